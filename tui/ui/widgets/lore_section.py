"""The Studio's lorebook section: the card's ``character_book`` entries in a
list, with Add / Edit / Remove (editing happens in ``LoreEntryDialog``).

It edits an in-memory :class:`Lorebook` only; the screen asks for
``character_book()`` when it saves. An untouched book is handed back
verbatim; a book that cannot be read is shown with its error, read-only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tui.core import Lorebook, LoreEntry, LoreError, book_to_dict, neutralize, parse_book
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.lore_entry import LoreEntryDialog


class LoreSection(Vertical):
    DEFAULT_CSS = """
    LoreSection { height: auto; }
    LoreSection #lore { height: auto; max-height: 10; border: round $panel; }
    LoreSection #lore:focus { border: round $accent; }
    """

    @dataclass
    class Changed(Message):
        section: LoreSection

    def __init__(self, character_book: dict[str, Any] | None, count_of: Callable[[str], str]) -> None:
        super().__init__(id="lore-section")
        self.original = character_book
        self.count_of = count_of  # "(N tokens)" for a text, from the screen
        self.book: Lorebook | None = None
        self.error: str | None = None
        self.edited = False
        self.load(character_book)

    def load(self, character_book: dict[str, Any] | None) -> None:
        """Start over from ``character_book`` (after a save)."""
        self.original = character_book
        self.book, self.error, self.edited = None, None, False
        if character_book is not None:
            try:
                self.book = parse_book(copy.deepcopy(character_book), "this card's lorebook")
            except LoreError as exc:
                self.error = str(exc)

    def compose(self) -> ComposeResult:
        yield Static("Lorebook", id="lore-heading", classes="section", markup=False)
        yield OptionList(id="lore")
        with Horizontal(classes="buttons"):
            yield Button("Add entry", id="add-lore")
            yield Button("Edit entry", id="edit-lore")
            yield Button("Remove entry", id="remove-lore", variant="warning")

    def on_mount(self) -> None:
        self.fill()

    # -- what the screen asks ------------------------------------------------
    @property
    def entries(self) -> list[LoreEntry]:
        return self.book.entries if self.book is not None else []

    def character_book(self) -> dict[str, Any] | None:
        if self.edited and self.book is not None:
            return book_to_dict(self.book)
        return copy.deepcopy(self.original)

    # -- showing ---------------------------------------------------------------
    def fill(self) -> None:
        lst = self.query_one("#lore", OptionList)
        highlighted = lst.highlighted
        lst.clear_options()
        if self.error:
            lst.add_option(Option(Content(neutralize(f"Cannot edit: {self.error}")), disabled=True))
            return
        for i, entry in enumerate(self.entries):
            lst.add_option(Option(self._label(entry), id=f"lore-{i}"))
        if not self.entries:
            lst.add_option(Option("no entries (Add entry to start a lorebook)", id="", disabled=True))
        else:
            lst.highlighted = min(highlighted or 0, len(self.entries) - 1)
        self.refresh_labels()

    def _label(self, entry: LoreEntry) -> Content:
        keys = ", ".join(entry.keys) or "(no keys)"
        first = " ".join(entry.content.split())
        first = first if len(first) <= 50 else first[:49] + "…"
        flags = [] if entry.enabled else ["off"]
        if entry.constant:
            flags.append("always on")
        mark = f"  [{', '.join(flags)}]" if flags else ""
        return Content(neutralize(f"{keys} — {first}{mark}  {self.count_of(entry.content)}"))

    def refresh_labels(self) -> None:
        if self.error:
            return
        lst = self.query_one("#lore", OptionList)
        for i, entry in enumerate(self.entries):
            if i < lst.option_count:
                lst.replace_option_prompt_at_index(i, self._label(entry))
        n = len(self.entries)
        heading = f"Lorebook  ({n} entr{'y' if n == 1 else 'ies'})" if self.book is not None else "Lorebook"
        self.query_one("#lore-heading", Static).update(heading)

    # -- editing ---------------------------------------------------------------
    def _changed(self) -> None:
        self.edited = True
        self.fill()
        self.post_message(self.Changed(self))

    def _index(self) -> int | None:
        i = self.query_one("#lore", OptionList).highlighted
        return i if i is not None and i < len(self.entries) else None

    def add_entry(self) -> None:
        if self.error:
            self.notify(self.error, severity="error", markup=False)
            return

        def done(entry: LoreEntry | None) -> None:
            if entry is None:
                return
            if self.book is None:
                self.book = Lorebook()
            self.book.entries.append(entry)
            self._changed()
            self.query_one("#lore", OptionList).highlighted = len(self.book.entries) - 1

        self.app.push_screen(LoreEntryDialog(LoreEntry(), "New lorebook entry"), done)

    def edit_entry(self) -> None:
        i = self._index()
        if i is None:
            return
        entries = self.entries

        def done(entry: LoreEntry | None) -> None:
            if entry is not None:
                entries[i] = entry
                self._changed()

        self.app.push_screen(LoreEntryDialog(entries[i]), done)

    def remove_entry(self) -> None:
        i = self._index()
        if i is None:
            return
        entries = self.entries

        def done(yes: bool | None) -> None:
            if yes:
                del entries[i]
                self._changed()

        self.app.push_screen(ConfirmScreen(f"Remove the lorebook entry “{entries[i].label}”?"), done)

    @on(OptionList.OptionSelected, "#lore")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.edit_entry()

    @on(Button.Pressed, "#add-lore")
    def _add(self, event: Button.Pressed) -> None:
        event.stop()
        self.add_entry()

    @on(Button.Pressed, "#edit-lore")
    def _edit(self, event: Button.Pressed) -> None:
        event.stop()
        self.edit_entry()

    @on(Button.Pressed, "#remove-lore")
    def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        self.remove_entry()
