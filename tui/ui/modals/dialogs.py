"""Small modal dialogs: ask for a line of text, edit a message (the yes/no
and save/discard questions are in ``confirm.py``).

Questions quote chat titles, names and paths: they are shown literally."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.ui.screens.hooks import CandlelitModal
from tui.ui.text import literal

DIALOG_CSS = """
#dialog { width: 60; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
#dialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
#dialog Button { margin-left: 1; }
"""
_CSS = "AskScreen { align: center middle; }\n" + DIALOG_CSS


class AskScreen(CandlelitModal[str | None]):
    DEFAULT_CSS = _CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(literal(self.question), markup=False)
            yield Input(self.value, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditScreen(CandlelitModal[str | None]):
    """Edit a message: Ctrl+S saves, Esc cancels."""

    DEFAULT_CSS = """
    EditScreen { align: center middle; }
    EditScreen #dialog { width: 90%; height: 70%; border: thick $accent; background: $panel; padding: 1 2; }
    EditScreen TextArea { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save"),
        Binding("escape", "cancel", "Cancel", id="edit.cancel"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.original = text

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea

        with Vertical(id="dialog"):
            yield Static("Edit message — Ctrl+S save · Esc cancel", markup=False)
            yield TextArea(self.original, id="editor", soft_wrap=True)

    def action_save(self) -> None:
        from textual.widgets import TextArea

        self.dismiss(self.query_one("#editor", TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
