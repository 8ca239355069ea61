"""Rehearsal: practise a hard conversation, with a character as the partner.

Write what you want to practise, then say it in your own words; the
character answers as your partner would (streamed from a thread worker
through ``tui.core.scene.rehearsal``). Ctrl+F asks for gentle feedback on how
clearly it came across; Ctrl+R starts over. Nothing here is saved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static

from tui.core import (
    COACH,
    CandlelitError,
    Chunk,
    Finished,
    Line,
    Rehearsal,
    feedback,
    feedback_prompt,
    neutralize,
    partner_reply,
)
from tui.ui.screens.hooks import CandlelitScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.workers import pump

Writing = Literal["partner", "feedback"]


@dataclass
class PieceArrived(Message):
    round: int
    text: str


@dataclass
class PieceDone(Message):
    round: int
    text: str
    stopped: bool


@dataclass
class PieceFailed(Message):
    round: int
    error: str


class RehearsalScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("ctrl+f", "feedback", "Feedback", id="rehearsal.feedback", priority=True),
        Binding("ctrl+r", "restart", "Start over", id="rehearsal.restart", priority=True),
        Binding("escape", "stop_or_back", "Stop / Back", id="rehearsal.back"),
    ]

    def __init__(self, slug: str | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.partner = ""
        self.about = ""
        self.lines: list[Line] = []
        self.busy: Writing | None = None  # what the model is writing
        self.cancel: threading.Event | None = None
        self.streaming: MessageView | None = None
        self.round = 0  # one per generation; late messages of an older one are ignored

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="rehearse-intro", markup=False)
        yield Input(placeholder="What do you want to practise? e.g. asking for more time together", id="rehearse-topic")
        yield VerticalScroll(id="rehearse-lines")
        yield Composer(id="rehearse-composer")
        yield Static("", id="rehearse-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Rehearsal"
        ws = self.app.ws
        try:
            entry = ws.card(self.slug) if self.slug else next(iter(ws.cards()), None)
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            entry = None
        if entry is not None:
            self.slug = entry.slug
            self.partner = entry.card.display_name
            self.about = entry.card.description
        self.query_one("#rehearse-intro", Static).update(
            f"Practise a hard conversation. {neutralize(self.partner) or 'A character'} plays your partner; "
            "Ctrl+F asks for gentle feedback on clarity. Nothing here is saved."
        )
        self._status("Write the topic first, then say it in your own words below.")
        self.query_one("#rehearse-topic", Input).focus()

    def _status(self, text: str) -> None:
        self.query_one("#rehearse-status", Static).update(text)

    def _user(self) -> str:
        return self.app.ws.persona().name

    def setup(self) -> Rehearsal:
        """The rehearsal as the form stands (``RehearsalError`` if incomplete)."""
        return Rehearsal(self.query_one("#rehearse-topic", Input).value, self._user(), self.partner, self.about)

    @on(Input.Submitted, "#rehearse-topic")
    def _topic_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#rehearse-composer", Composer).focus()

    # -- the exchange ---------------------------------------------------------
    @on(Composer.Submitted)
    async def _said(self, event: Composer.Submitted) -> None:
        event.stop()
        if self.busy is not None:
            self.notify("Wait for the answer, or press Esc to stop it.", markup=False)
            return
        if self.app.engine is None or not self.partner:
            self.notify("The model is still loading." if self.partner else "Add a character first.", markup=False)
            return
        try:
            r = self.setup()
        except CandlelitError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            self.query_one("#rehearse-topic", Input).focus()
            return
        text = event.text.strip()
        event.composer.clear()
        self.lines.append(Line(r.user, text))
        box = self.query_one("#rehearse-lines", VerticalScroll)
        await box.mount(MessageView(r.user, text, role="user"))
        lines = list(self.lines)
        await self._start("partner", r.partner, lambda cancel: partner_reply(self.app.engine, r, lines, cancel=cancel))

    async def action_feedback(self) -> None:
        if self.busy is not None or self.app.engine is None:
            return
        try:
            r = self.setup()
            lines = list(self.lines)
            feedback_prompt(r, lines)  # says what is missing before anything starts
        except CandlelitError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        await self._start("feedback", COACH, lambda cancel: feedback(self.app.engine, r, lines, cancel=cancel))

    async def _start(self, kind: Writing, speaker: str, make: Callable[[threading.Event], Iterator]) -> None:
        self.busy = kind
        self.cancel = threading.Event()
        view = MessageView(speaker, "", role="assistant")
        if kind == "feedback":
            view.add_class("feedback")
        box = self.query_one("#rehearse-lines", VerticalScroll)
        await box.mount(view)
        box.anchor()
        self.streaming = view
        self.round += 1
        self._status("Giving feedback…" if kind == "feedback" else f"{self.partner} is answering… (Esc stops)")
        self._run(make, self.cancel, self.round)

    @work(thread=True, exclusive=True, group="rehearsal", exit_on_error=False)
    def _run(self, make: Callable[[threading.Event], Iterator], cancel: threading.Event, n: int) -> None:
        pump(
            self,
            lambda: make(cancel),
            {
                Chunk: lambda ev: PieceArrived(n, ev.text),
                Finished: lambda ev: PieceDone(n, ev.text, ev.reason == "cancelled"),
            },
            failed=lambda exc: PieceFailed(n, str(exc) or exc.__class__.__name__),  # shown as a notice
        )

    @on(PieceArrived)
    async def _piece(self, msg: PieceArrived) -> None:
        if self.streaming is not None and msg.round == self.round:
            await self.streaming.append(msg.text)

    @on(PieceDone)
    async def _done(self, msg: PieceDone) -> None:
        if msg.round != self.round:
            return
        kind, self.busy = self.busy, None
        view, self.streaming = self.streaming, None
        if kind == "partner" and view is not None and msg.text.strip():
            self.lines.append(Line(self.partner, msg.text.strip()))
        if view is not None and not msg.text.strip():
            await view.remove()
        self._status("Stopped." if msg.stopped else "Your turn. Ctrl+F for feedback, Ctrl+R to start over.")
        self.query_one("#rehearse-composer", Composer).focus()

    @on(PieceFailed)
    async def _failed(self, msg: PieceFailed) -> None:
        if msg.round != self.round:
            return
        self.busy = None
        view, self.streaming = self.streaming, None
        if view is not None and not view.text:
            await view.remove()
        self._status("")
        self.notify(msg.error, title="Rehearsal", severity="error", markup=False)

    # -- leaving --------------------------------------------------------------
    async def action_restart(self) -> None:
        if self.cancel is not None:
            self.cancel.set()
        self.busy, self.streaming = None, None
        self.round += 1  # a reply still arriving is dropped
        self.lines = []
        await self.query_one("#rehearse-lines", VerticalScroll).remove_children()
        self._status("Starting over. Say it again, in any words.")
        self.query_one("#rehearse-composer", Composer).focus()

    def action_stop_or_back(self) -> None:
        if self.busy is not None and self.cancel is not None:
            self.cancel.set()
            return
        self.app.pop_screen()

    def work_events(self) -> tuple[threading.Event | None, ...]:
        return (self.cancel,)  # leaving, or the profile locking, stops generating
