"""A modal form for one lorebook entry: keys, content, enabled, constant,
insertion order and position. It edits a copy of a ``LoreEntry`` and hands
it back (Ctrl+S) or nothing (Esc); fields it does not show are untouched,
so ``entry_to_dict`` still writes them exactly as they were read.
"""

from __future__ import annotations

import copy

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Select, Static, TextArea

from tui.core import DEFAULT_INSERTION_ORDER, LoreEntry, neutralize
from tui.ui.screens.hooks import CandlelitModal

POSITION_CHOICES = [("before the character", "before_char"), ("after the character", "after_char")]


def split_list(text: str) -> list[str]:
    """Comma-separated text as a list of trimmed, non-empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def kept(shown: str, typed: str, original: str) -> str:
    """``original`` when the user left the neutralized text as shown."""
    return original if typed == shown else typed


class LoreEntryDialog(CandlelitModal[LoreEntry | None]):
    DEFAULT_CSS = """
    LoreEntryDialog { align: center middle; }
    LoreEntryDialog #dialog { width: 90%; height: 90%; border: thick $accent; background: $panel; padding: 0 1; }
    LoreEntryDialog TextArea { height: 1fr; }
    LoreEntryDialog .row { height: auto; }
    LoreEntryDialog .label { color: $accent; margin-top: 1; }
    LoreEntryDialog .inline { width: auto; margin: 1 1 0 2; color: $accent; }
    LoreEntryDialog #order { width: 16; }
    LoreEntryDialog #position { width: 30; }
    LoreEntryDialog #lore-error { color: $error; }
    LoreEntryDialog #buttons { height: auto; align-horizontal: right; }
    LoreEntryDialog Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "keep", "Keep entry", id="lore.keep", priority=True),
        Binding("escape", "cancel", "Cancel", id="lore.cancel"),
    ]

    def __init__(self, entry: LoreEntry, title: str = "Lorebook entry") -> None:
        super().__init__()
        self.entry = entry
        self.heading = title
        self._keys_shown = neutralize(", ".join(entry.keys))
        self._content_shown = neutralize(entry.content)

    def compose(self) -> ComposeResult:
        e = self.entry
        with Vertical(id="dialog"):
            yield Static(f"{self.heading} — Ctrl+S keep · Esc cancel", markup=False)
            yield Static("Keys (comma-separated; the entry joins the prompt when one is mentioned)",
                         classes="label", markup=False)
            yield Input(self._keys_shown, id="keys")
            yield Static("Content", classes="label", markup=False)
            yield TextArea(self._content_shown, id="content", soft_wrap=True)
            with Horizontal(classes="row"):
                yield Checkbox("Enabled", e.enabled, id="enabled")
                yield Checkbox("Always on (constant)", e.constant, id="constant")
            with Horizontal(classes="row"):
                yield Static("Insertion order", classes="inline", markup=False)
                yield Input(str(e.insertion_order), id="order")
                yield Static("Position", classes="inline", markup=False)
                yield Select(POSITION_CHOICES, value=e.position, allow_blank=False, id="position")
            yield Static("", id="lore-error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Keep (Ctrl+S)", id="keep", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#keys", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "keep":
            self.action_keep()
        else:
            self.action_cancel()

    def _order(self) -> int | float | None:
        raw = self.query_one("#order", Input).value.strip()
        if not raw:
            return DEFAULT_INSERTION_ORDER
        try:
            value = float(raw)
        except ValueError:
            return None
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return int(value) if value.is_integer() else value

    def action_keep(self) -> None:
        order = self._order()
        if order is None:
            self.query_one("#lore-error", Static).update("Insertion order must be a number, e.g. 100.")
            return
        out = copy.deepcopy(self.entry)
        keys_typed = self.query_one("#keys", Input).value
        if keys_typed != self._keys_shown:
            out.keys = split_list(keys_typed)
        out.content = kept(self._content_shown, self.query_one("#content", TextArea).text, self.entry.content)
        out.enabled = self.query_one("#enabled", Checkbox).value
        out.constant = self.query_one("#constant", Checkbox).value
        if not (isinstance(out.insertion_order, (int, float)) and out.insertion_order == order):
            out.insertion_order = order
        position = self.query_one("#position", Select).value
        if isinstance(position, str):
            out.position = position
        self.dismiss(out)

    def action_cancel(self) -> None:
        self.dismiss(None)
