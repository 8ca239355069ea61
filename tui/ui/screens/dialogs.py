"""Small modal dialogs: confirm, and ask for a line of text.

Questions quote chat titles, names and paths: they are shown literally."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from tui.ui.screens.hooks import CandlelitModal
from tui.ui.text import literal

_CSS = """
ConfirmScreen, AskScreen { align: center middle; }
#dialog { width: 60; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
#dialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
#dialog Button { margin-left: 1; }
"""


class ConfirmScreen(CandlelitModal[bool]):
    DEFAULT_CSS = _CSS
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(literal(self.question), markup=False)
            with Horizontal():
                yield Button("Cancel (n)", id="no")
                yield Button("Yes (y)", id="yes", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


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
