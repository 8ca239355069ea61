"""Help: every key binding of the app and the screen below, generated from
the bindings themselves so it can never go out of date."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA = [
    ("Enter", "Send the message"),
    ("Shift+Enter / Ctrl+J", "New line in the composer"),
    ("Ctrl+P", "Command palette"),
]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 72; height: auto; max-height: 90%; border: thick $accent; background: $panel; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        lines = ["Keys", ""]
        seen = set()
        stack = [s for s in self.app.screen_stack if s is not self]
        below = stack[-1] if stack else None
        for source in (below, self.app):
            for b in getattr(source, "BINDINGS", []):
                if not isinstance(b, Binding) or b.description in seen or not b.description:
                    continue
                seen.add(b.description)
                keys = " / ".join(self.app.get_key_display(Binding(k, "")) for k in b.key.split(","))
                lines.append(f"{keys:<24} {b.description}")
        lines += [f"{k:<24} {d}" for k, d in EXTRA]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines), markup=False)
