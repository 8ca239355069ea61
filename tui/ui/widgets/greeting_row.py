"""One alternate greeting in the Studio: a label with its token count, the
text, and a Remove button. The screen owns the numbering and the counts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TextArea


class GreetingRow(Vertical):
    DEFAULT_CSS = """
    GreetingRow { height: auto; }
    GreetingRow Horizontal { height: auto; }
    GreetingRow TextArea { width: 1fr; height: 6; }
    GreetingRow Button { margin-left: 1; min-width: 10; }
    """

    def __init__(self, text: str, original: str, *, row_id: str) -> None:
        super().__init__(id=row_id)
        self.shown = text
        self.original = original  # the card's text, kept if this is left as shown

    def compose(self) -> ComposeResult:
        yield Static("", classes="field-label", markup=False)
        with Horizontal():
            yield TextArea(self.shown, soft_wrap=True, classes="greeting-text")
            yield Button("Remove", classes="remove-greeting", variant="warning")

    @property
    def text(self) -> str:
        typed = self.query_one(TextArea).text
        return self.original if typed == self.shown else typed

    def set_label(self, text: str) -> None:
        self.query_one(".field-label", Static).update(text)
