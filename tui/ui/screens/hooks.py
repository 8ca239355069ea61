"""What the app calls on its screens, and the screens' typed ``self.app``.

Attributes down, messages up: the app tells every ``CandlelitScreen`` on its
stack what changed by calling one of the ``ScreenHooks`` methods (each a
no-op unless a screen has something to do); screens reach the app through
``self.app``, typed once here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, TypeVar, cast, runtime_checkable

from textual.screen import ModalScreen, Screen

from tui.ui.base import AppBase

ResultT = TypeVar("ResultT")


@runtime_checkable
class ScreenHooks(Protocol):
    """The calls the app makes on the screens of its stack."""

    def model_state_changed(self, text: str) -> None:
        """The model loaded, failed or is loading (``text`` says which)."""

    def stop_work(self) -> None:
        """The profile is about to lock: stop generating now."""

    def refresh_lists(self) -> None:
        """The profile changed (unlocked, switched): show its data again."""

    def privacy_locked(self) -> None:
        """The panic or lock screen is about to cover the app."""

    def save_cache(self) -> None:
        """The app is closing, the engine still open: keep what is worth keeping."""

    def chat_shown(self) -> str | None:
        """The id of the chat this screen shows (None: not a chat)."""


class CandlelitScreen(Screen[ResultT]):
    """A full screen of the app: ``ScreenHooks`` as no-ops, the work
    lifecycle in one place, and ``self.app`` typed.

    Work lifecycle: ``work_events`` names the cancel events of work under
    way; leaving the screen (unmount) sets them, then calls ``save_cache``;
    ``stop_work`` (the profile is locking) sets them too.
    """

    @property
    def app(self) -> AppBase:  # type: ignore[override]
        return cast(AppBase, super().app)

    def work_events(self) -> Iterable[threading.Event | None]:
        """The cancel events of this screen's work under way (None: idle)."""
        return ()

    def cancel_work(self) -> None:
        for event in self.work_events():
            if event is not None:
                event.set()

    def on_unmount(self) -> None:
        self.cancel_work()  # leaving stops the work; partial text is kept
        self.save_cache()

    # ScreenHooks
    def model_state_changed(self, text: str) -> None:
        pass

    def stop_work(self) -> None:
        self.cancel_work()

    def refresh_lists(self) -> None:
        pass

    def privacy_locked(self) -> None:
        pass

    def save_cache(self) -> None:
        pass

    def chat_shown(self) -> str | None:
        """The id of the chat this screen shows (None: not a chat)."""
        return None


class CandlelitModal(ModalScreen[ResultT]):
    """A dialog of the app, with ``self.app`` typed."""

    @property
    def app(self) -> AppBase:  # type: ignore[override]
        return cast(AppBase, super().app)
