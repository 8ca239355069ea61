"""The Memory screen: read and edit one chat's long-term memory (memory.md).

It shows the model-written summary, the user's pinned text, the facts (📌
for pinned ones, the source message id in dim text and as a tooltip) and
how far the summary reaches. Everything is edited in memory and written
only on Ctrl+S, through the controller (``tui.core.chat.session.Session``), in
one atomic save.

The summary may be rewritten in the background (``r`` asks for it). The
screen polls ``memory_busy`` and, once the work is done, shows the new
memory — unless the user has unsaved edits, which are never clobbered: a
notice says so, and saving then merges (``merge_memory``) the background
change with the user's edits, asking first where both touched the same text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Footer, Header, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from tui.core import (
    CandlelitError,
    Fact,
    Memory,
    fact_key,
    merge_memory,
    neutralize,
    same_memory,
    window_start,
)
from tui.ui.modals.confirm import ConfirmScreen, UnsavedChangesScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.hooks import CandlelitScreen
from tui.ui.text import literal

POLL_S = 0.25
#: After asking for a re-summary, how long "not busy yet" still counts as
#: "about to start" (the controller may start its thread a moment later).
START_GRACE_S = 1.0
BUSY_TEXT = "updating memory…"


class MemoryController(Protocol):
    """What the screen needs (``tui.core.chat.session.Session`` fits).

    ``messages()`` returns the chat's messages (objects with ``id``,
    ``speaker`` and ``text``), or None when they are not at hand: with them
    the screen says how many messages the summary covers and quotes a
    fact's source message."""

    def memory(self) -> Memory: ...

    def messages(self) -> Sequence[Any] | None: ...

    def save_memory(self, m: Memory) -> None: ...

    def resummarize(self) -> None: ...

    @property
    def memory_busy(self) -> bool: ...


# --------------------------------------------------------------------------
# pure helpers


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fact_prompt(f: Fact) -> Content:
    """One line of the facts list: pin mark, text, source in dim text."""
    parts: list[str | tuple[str, str]] = [("📌 ", "bold") if f.pinned else "•  ", neutralize(f.text)]
    if f.source:
        parts.append((f"  from {f.source}", "dim"))
    return Content.assemble(*parts)


# --------------------------------------------------------------------------
# dialogs


class EditLineScreen(AskScreen):
    """``AskScreen`` that starts with the cursor after the text (editing,
    not replacing: a key typed first does not wipe the fact)."""

    def on_mount(self) -> None:
        answer = self.query_one("#answer", Input)
        answer.select_on_focus = False
        answer.cursor_position = len(answer.value)



# --------------------------------------------------------------------------
# the screen


class FactList(OptionList):
    """The facts: Enter edits the highlighted one (a click only highlights)."""

    BINDINGS = [Binding("enter", "screen.edit_fact", "Edit fact", show=False, id="memory.facts.edit")]



class MemoryScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save memory", id="memory.save", priority=True),
        Binding("escape", "back", "Back", id="memory.back"),
        Binding("r", "resummarize", "Re-summarize", id="memory.resummarize"),
        Binding("a", "add_fact", "Add fact", id="memory.add_fact"),
        Binding("p", "toggle_pin", "Pin / unpin fact", id="memory.pin"),
        Binding("d,delete", "forget_fact", "Forget fact", id="memory.forget"),
        Binding("enter", "edit_fact", "Edit fact", id="memory.edit_fact"),
    ]

    def __init__(self, controller: MemoryController, chat_title: str = "") -> None:
        super().__init__()
        self.controller = controller
        self.chat_title = chat_title
        self.base = Memory()          # what is on disk, as last loaded or saved
        self.facts: list[Fact] = []   # the facts as edited
        self._shown: dict[str, str] = {"summary": "", "pinned": ""}  # neutralized text put in the widgets
        self._was_busy = False
        self._requested_at: float | None = None  # when "r" asked, until the work is seen done
        self._msgs: list | None = None  # the chat's messages, read when the memory is (if offered)
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="memory-body"):
            yield Static("", id="memory-reach", markup=False)
            yield Static("Summary · written by the model, one paragraph per fold", classes="memory-label",
                         markup=False)
            yield TextArea("", id="memory-summary", soft_wrap=True)
            yield Static("Pinned · yours, never rewritten by the model", classes="memory-label", markup=False)
            yield TextArea("", id="memory-pinned", soft_wrap=True)
            yield Static("", id="memory-facts-label", classes="memory-label", markup=False)
            yield FactList(id="memory-facts", markup=False)
        with Horizontal(id="memory-bar"):
            yield Static("", id="memory-status", markup=False)
            yield Button("Add fact", id="memory-add", compact=True)
            yield Button("Re-summarize", id="memory-resummarize", compact=True)
            yield Button("Save", id="memory-save", compact=True, variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Memory · {neutralize(self.chat_title)}" if self.chat_title else "Memory"
        self.sub_title = "Ctrl+S save · r re-summarize · a add · p pin · d forget · Esc back"
        try:
            m = self.controller.memory()
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="Cannot open the memory", severity="error", timeout=20, markup=False)
            self.call_after_refresh(self._leave)
            return
        self._fill(m)
        self._was_busy = self._busy()
        self._show_status()
        self.set_interval(POLL_S, self._poll)
        self.query_one("#memory-facts" if self.facts else "#memory-pinned").focus()
        self.ready = True

    def _leave(self) -> None:
        self.app.pop_screen()

    # -- showing ---------------------------------------------------------------
    def _summary_area(self) -> TextArea:
        return self.query_one("#memory-summary", TextArea)

    def _pinned_area(self) -> TextArea:
        return self.query_one("#memory-pinned", TextArea)

    def _fact_list(self) -> OptionList:
        return self.query_one("#memory-facts", OptionList)

    def _fill(self, m: Memory) -> None:
        """Show ``m`` as the saved state (the edits are replaced)."""
        self.base = replace(m, facts=list(m.facts))
        self.facts = list(m.facts)
        self._msgs = self._messages()
        for key, area, text in (("summary", self._summary_area(), m.summary),
                                ("pinned", self._pinned_area(), m.pinned_summary)):
            self._shown[key] = neutralize(text)
            if area.text != self._shown[key]:
                area.text = self._shown[key]
        self._show_facts()
        self._show_reach()
        self._show_status()

    def _messages(self) -> list | None:
        try:
            found = self.controller.messages()
            if found is None:
                return None
            return [x for x in found if x.text.strip()]
        except Exception:  # noqa: BLE001 - the reach line is advisory; never fail the screen for it
            return None

    def _show_reach(self) -> None:
        upto = self.base.folded_upto
        msgs = self._msgs
        if not upto:
            text = "Nothing is folded yet: every message is still sent as written."
        elif msgs is None:
            text = f"The summary covers the chat through message {upto}."
        else:
            n, total = window_start([x.id for x in msgs], upto), len(msgs)
            if n == 0:
                text = (f"The summary ends at message {upto}, which is no longer in the chat; "
                        "every message is sent as written.")
            elif n == total:
                text = (f"The summary covers all {total} messages (through message {upto}); "
                        "new ones are sent as written.")
            else:
                rest = "the last message is" if total - n == 1 else f"the last {total - n} messages are"
                text = (f"The summary covers {n} of {total} messages (through message {upto}); "
                        f"{rest} sent as written.")
        self.query_one("#memory-reach", Static).update(text)

    def _show_facts(self, highlight: int | None = None) -> None:
        ol = self._fact_list()
        old = ol.highlighted if highlight is None else highlight
        ol.clear_options()
        ol.add_options([Option(fact_prompt(f)) for f in self.facts])
        if self.facts:
            ol.highlighted = min(max(old or 0, 0), len(self.facts) - 1)
        pinned = sum(1 for f in self.facts if f.pinned)
        label = f"Facts · {len(self.facts)} ({pinned} pinned, kept for good)" if self.facts \
            else "Facts · none yet (a: add one)"
        self.query_one("#memory-facts-label", Static).update(label)
        self._show_source()
        self._show_status()

    def _show_source(self) -> None:
        f = self._current_fact()
        ol = self._fact_list()
        if f is None or not f.source:
            ol.tooltip = "Added by you" if f is not None else None
            return
        tip = f"From message {f.source}"
        for msg in self._msgs or []:
            if msg.id == f.source:
                words = _one_line(msg.text)
                tip += f"\n{msg.speaker}: {words[:160]}{'…' if len(words) > 160 else ''}"
                break
        ol.tooltip = literal(tip)

    @on(OptionList.OptionHighlighted, "#memory-facts")
    def _highlighted(self) -> None:
        self._show_source()

    def _busy(self) -> bool:
        try:
            return bool(self.controller.memory_busy)
        except Exception:  # noqa: BLE001 - a status probe must not crash the screen
            return False

    def _show_status(self) -> None:
        status = self.query_one("#memory-status", Static)
        busy = self._was_busy or self._requested_at is not None
        parts = [BUSY_TEXT] if busy else []
        parts.append("unsaved changes (Ctrl+S)" if self.is_dirty() else "saved")
        status.update(" · ".join(parts))
        status.set_class(busy, "-busy")

    @on(TextArea.Changed)
    def _edited(self) -> None:
        self._show_status()

    # -- the edited memory ----------------------------------------------------------
    def collect(self) -> Memory:
        """The memory as the screen has it now (not saved)."""
        summary = self._summary_area().text
        pinned = self._pinned_area().text
        return Memory(
            summary=self.base.summary if summary == self._shown["summary"] else summary,
            pinned_summary=self.base.pinned_summary if pinned == self._shown["pinned"] else pinned,
            facts=list(self.facts),
            folded_upto=self.base.folded_upto,
            version=self.base.version,
        )

    def is_dirty(self) -> bool:
        return not same_memory(self.collect(), self.base)

    # -- background updates ----------------------------------------------------------
    def _poll(self) -> None:
        busy = self._busy()
        if busy:
            if not self._was_busy:
                self._was_busy = True
                self._show_status()
            return
        waited = self._requested_at is not None and time.monotonic() - self._requested_at > START_GRACE_S
        if self._was_busy or waited:
            asked = self._requested_at is not None
            self._was_busy = False
            self._requested_at = None
            self._updated(asked)
            self._show_status()

    def _updated(self, asked: bool) -> None:
        """The background work is done: show its result, unless the user has edits."""
        try:
            fresh = self.controller.memory()
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="Cannot read the memory", severity="error", timeout=20, markup=False)
            return
        if same_memory(fresh, self.base):
            if asked:
                self.notify("The memory was not changed.", markup=False)
            return
        if self.is_dirty():
            self.notify("The memory was updated in the background. Your unsaved edits are kept; "
                        "Ctrl+S merges them with the update.", title="Memory updated", timeout=15, markup=False)
            return
        self._fill(fresh)
        self.notify("Memory updated.", markup=False)

    def action_resummarize(self) -> None:
        if self._busy() or self._requested_at is not None:
            self.notify("The memory is already being updated.", markup=False)
            return
        try:
            self.controller.resummarize()
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="Cannot update the memory", severity="error", markup=False)
            return
        self._requested_at = time.monotonic()
        self._show_status()

    # -- facts -----------------------------------------------------------------------
    def _current_index(self) -> int | None:
        i = self._fact_list().highlighted
        return i if i is not None and 0 <= i < len(self.facts) else None

    def _current_fact(self) -> Fact | None:
        i = self._current_index()
        return None if i is None else self.facts[i]

    def action_toggle_pin(self) -> None:
        i = self._current_index()
        if i is None:
            return
        self.facts[i] = replace(self.facts[i], pinned=not self.facts[i].pinned)
        self._show_facts(i)

    def action_forget_fact(self) -> None:
        i = self._current_index()
        if i is None:
            return
        del self.facts[i]
        self._show_facts(i)

    def action_add_fact(self) -> None:
        def add(text: str | None) -> None:
            text = _one_line(text or "")
            if not text:
                return
            known = next((i for i, f in enumerate(self.facts) if fact_key(f.text) == fact_key(text)), None)
            if known is not None:
                self.notify("That fact is already in the list.", markup=False)
                self._show_facts(known)
                return
            self.facts.append(Fact(text, "", pinned=True))
            self._show_facts(len(self.facts) - 1)
            self._fact_list().focus()

        self.app.push_screen(AskScreen("New fact (pinned: kept for good):"), add)

    def action_edit_fact(self) -> None:
        i = self._current_index()
        if i is None:
            return
        fact = self.facts[i]

        def edit(text: str | None) -> None:
            if text is None:
                return
            text = _one_line(text)
            if not text:
                self.notify("A fact cannot be empty; press d to forget it.", markup=False)
                return
            if i < len(self.facts) and self.facts[i] is fact:
                self.facts[i] = replace(fact, text=text)
                self._show_facts(i)

        self.app.push_screen(EditLineScreen("Edit the fact:", neutralize(fact.text)), edit)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        action = {"memory-add": self.action_add_fact, "memory-resummarize": self.action_resummarize,
                  "memory-save": self.action_save}.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()

    # -- save / back -----------------------------------------------------------------------
    def action_save(self) -> None:
        self.save()

    def save(self, after: Callable[[], None] | None = None) -> None:
        """Save the edits (merged with any change on disk since they began);
        ``after`` runs once they are written. Errors are notified; the
        edits stay on screen."""
        if not self.is_dirty():
            self.notify("No changes to save.", markup=False)
            if after is not None:
                after()
            return
        try:
            theirs = self.controller.memory()
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="Memory not saved", severity="error", timeout=20, markup=False)
            return
        merged, conflicts = merge_memory(self.base, self.collect(), theirs)
        if not conflicts:
            self._write(merged, after)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._write(merged, after)
            else:
                self.notify("Not saved; your edits are kept.", markup=False)

        self.app.push_screen(ConfirmScreen(
            f"memory.md changed since you opened it (the {' and the '.join(conflicts)}). "
            "Save your version of it over the change?"), answer)

    def _write(self, m: Memory, after: Callable[[], None] | None) -> None:
        try:
            self.controller.save_memory(m)
        except (CandlelitError, OSError) as exc:
            self.notify(f"{exc}\nYour edits are kept.", title="Memory not saved", severity="error",
                        timeout=20, markup=False)
            return
        if self._busy():
            self.notify("Saved. The summary being written now will not replace your edits.", markup=False)
        else:
            self.notify("Memory saved.", markup=False)
        self._fill(m)
        if after is not None:
            after()

    def action_back(self) -> None:
        if not self.is_dirty():
            self._leave()
            return

        def answer(choice: str | None) -> None:
            if choice == "save":
                self.save(after=self._leave)
            elif choice == "discard":
                self._leave()

        self.app.push_screen(UnsavedChangesScreen("The memory has unsaved changes. Save them?"), answer)
