"""One modal for a question answered by a button or its key: yes/no
(``ConfirmScreen``), save/discard/cancel (``UnsavedChangesScreen``).

Each kind names its choices (and its key bindings, with ids, so keys can be
remapped); the question is shown literally (it quotes titles and names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.ui.modals.dialogs import DIALOG_CSS
from tui.ui.screens.hooks import CandlelitModal
from tui.ui.text import literal

AnswerT = TypeVar("AnswerT")


@dataclass(frozen=True)
class Choice(Generic[AnswerT]):
    button_id: str
    label: str
    answer: AnswerT
    variant: str = "default"


class ChoiceScreen(CandlelitModal[AnswerT]):
    """A question and a row of buttons; dismisses with the chosen answer."""

    DEFAULT_CSS = "ChoiceScreen { align: center middle; }\n" + DIALOG_CSS
    CHOICES: ClassVar[tuple[Choice, ...]] = ()

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(literal(self.question), markup=False)
            with Horizontal():
                for choice in self.CHOICES:
                    yield Button(choice.label, id=choice.button_id, variant=choice.variant)  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(next(c.answer for c in self.CHOICES if c.button_id == event.button.id))

    def action_answer(self, value: AnswerT) -> None:
        self.dismiss(value)


class ConfirmScreen(ChoiceScreen[bool]):
    """Yes or no; dismisses with True for yes."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    CHOICES = (Choice("no", "Cancel (n)", False), Choice("yes", "Yes (y)", True, "error"))


class UnsavedChangesScreen(ChoiceScreen[str]):
    """Save / discard / cancel; dismisses with "save", "discard" or "cancel"."""

    BINDINGS = [
        Binding("s", "answer('save')", "Save", id="unsaved.save"),
        Binding("d", "answer('discard')", "Discard", id="unsaved.discard"),
        Binding("c,escape", "answer('cancel')", "Cancel", id="unsaved.cancel"),
    ]
    CHOICES = (
        Choice("cancel", "Cancel (c)", "cancel"),
        Choice("discard", "Discard (d)", "discard", "error"),
        Choice("save", "Save (s)", "save", "primary"),
    )

    def __init__(self, question: str = "The memory has unsaved changes.") -> None:
        super().__init__(question)
