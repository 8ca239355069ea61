"""What the screens see of the app: ``AppBase``, the app's own attributes
and calls on top of Textual's ``App``. ``CandlelitApp`` implements it, and
screens type ``self.app`` with it, so no screen imports the app module (the
app imports the screens; nothing imports back)."""

from __future__ import annotations

from datetime import datetime

from textual.app import App

from tui.core import Engine, Vault, Workspace


class AppBase(App[None]):
    ws: Workspace
    engine: Engine | None
    model_state: str
    hidden: bool  # the panic or lock screen covers the app

    def tokenizer(self) -> Engine | None:
        """The exact tokenizer for live token counts (None without a model)."""
        raise NotImplementedError

    def switch_profile(self, name: str) -> None:
        raise NotImplementedError

    def record_usage(self, now: datetime | None = None) -> None:
        raise NotImplementedError

    def lock_now(self, error: str = "") -> None:
        raise NotImplementedError

    def copy_text(self, text: str) -> int:
        """Copy as plain text; cleared again after a while (seconds; 0 = never)."""
        raise NotImplementedError

    def privacy_unlocked(self, opened: Vault) -> None:
        raise NotImplementedError
