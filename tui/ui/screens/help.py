"""Help: every key binding of the app and the screen below, generated from
the bindings themselves so it can never go out of date."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.ui.bindings import described_bindings
from tui.ui.screens.hooks import CandlelitModal

EXTRA = [
    ("Enter", "Send the message"),
    ("Shift+Enter / Ctrl+J", "New line in the composer"),
    ("Ctrl+P", "Command palette"),
]


class HelpScreen(CandlelitModal[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 72; height: auto; max-height: 90%; border: thick $accent; background: $panel; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        lines = ["Keys", ""]
        stack = [s for s in self.app.screen_stack if s is not self]
        below = stack[-1] if stack else None
        for _node, b, keys in described_bindings(self.app, (below, self.app)):
            lines.append(f"{keys:<24} {b.description}")
        lines += [f"{k:<24} {d}" for k, d in EXTRA]
        with VerticalScroll(id="help"):
            yield Static("\n".join(lines), markup=False)
