"""Scene controls: the check-in after a safeword, and who speaks next.

``CheckInScreen`` appears when someone uses the safeword. Nothing is
generated while it is up (the scene is paused); it returns the choice as
``(choice, note)`` with choice ``continue``, ``change`` (with a note for
the characters) or ``end``, or None to stay paused. The chat passes the
choice on to ``Session.resume_scene``.

``PickScreen`` asks for one name from a short list (the manual turn policy:
"who answers next?").

``SceneControls`` is the chat screen's part that drives them (``ChatScreen``
derives from it): the safeword typed while a reply streams goes to
``Session.interrupt`` from a thread worker (the reply stops within a token),
a pause opens the check-in, its choice goes to ``Session.resume_scene``
(after the stopped reply is kept), and Ctrl+N streams ``Session.reply_as``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.core import (
    CandlelitError,
    SceneError,
    ScenePaused,
    SceneSettings,
    Session,
    SlowDown,
    is_safeword,
    load_scene_settings,
    neutralize,
)
from tui.ui.screens.hooks import CandlelitModal, CandlelitScreen
from tui.ui.text import literal
from tui.ui.widgets.status_bar import StatusBar

CHOICES = ("continue", "change", "end")
Busy = Literal["reply", "swipe", "continue", "impersonate"]  # what the chat screen is generating


class CheckInScreen(CandlelitModal[tuple[str, str] | None]):
    BINDINGS = [
        Binding("c", "choose('continue')", "Continue the scene", id="checkin.continue"),
        Binding("d", "choose('change')", "Change direction", id="checkin.change"),
        Binding("e", "choose('end')", "End the scene", id="checkin.end"),
        Binding("escape", "stay", "Stay paused", id="checkin.stay"),
    ]

    def __init__(self, by: str = "", kind: str = "red") -> None:
        super().__init__()
        self.by = by
        self.kind = kind
        self._asking = False  # the note field is open

    def compose(self) -> ComposeResult:
        who = f"{neutralize(self.by)} used the safeword." if self.by else "The safeword was used."
        with Vertical(id="checkin"):
            yield Static("Scene paused", id="checkin-title", markup=False)
            yield Static(
                f"{who} Nothing is written while the scene is paused. "
                "Take a moment, check in with each other, then choose together.",
                id="checkin-text",
                markup=False,
            )
            yield Static(
                "Change direction: what should be different? (Enter to go on)", id="checkin-note-label", markup=False
            )
            yield Input(placeholder="e.g. less tension, a quiet moment at home", id="checkin-note")
            with Horizontal(id="checkin-buttons"):
                yield Button("Continue (c)", id="continue", variant="primary")
                yield Button("Change direction (d)", id="change")
                yield Button("End scene (e)", id="end", variant="error")

    def on_mount(self) -> None:
        self.query_one("#checkin-note-label").display = False
        self.query_one("#checkin-note").display = False
        self.query_one("#continue", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id in CHOICES:
            self.action_choose(event.button.id)

    def action_choose(self, choice: str) -> None:
        if choice == "change" and not self._asking:
            self._asking = True  # ask for the note first
            self.query_one("#checkin-note-label").display = True
            field = self.query_one("#checkin-note", Input)
            field.display = True
            field.focus()
            return
        note = self.query_one("#checkin-note", Input).value.strip() if choice == "change" else ""
        self.dismiss((choice, note))

    @on(Input.Submitted, "#checkin-note")
    def _note(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(("change", event.value.strip()))

    def action_stay(self) -> None:
        if self._asking:
            self._asking = False
            self.query_one("#checkin-note-label").display = False
            self.query_one("#checkin-note").display = False
            self.query_one("#change", Button).focus()
            return
        self.dismiss(None)


class PickScreen(CandlelitModal[str | None]):
    """Choose one of ``names``; Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pick.cancel")]

    def __init__(self, question: str, names: Sequence[str]) -> None:
        super().__init__()
        self.question = question
        self.names = list(names)

    def compose(self) -> ComposeResult:
        with Vertical(id="pick"):
            yield Static(self.question, markup=False)
            yield OptionList(*(Option(literal(n), id=str(i)) for i, n in enumerate(self.names)), id="pick-list")

    def on_mount(self) -> None:
        options = self.query_one("#pick-list", OptionList)
        options.highlighted = 0 if self.names else None
        options.focus()

    @on(OptionList.OptionSelected, "#pick-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.names[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class Paused(Message):
    """The scene was paused (by whom, which signal)."""

    by: str
    kind: str


@dataclass
class SlowedDown(Message):
    by: str


class SceneControls(CandlelitScreen[None]):
    """Safeword, check-in and manual turns for the chat screen.

    The chat screen provides the state (``session``, ``busy``, ``cancel``,
    ``group``, ``chat_id``) and the hooks below; everything here runs on
    the event loop except ``_interrupt``.
    """

    session: Session | None
    busy: Busy | None
    cancel: threading.Event | None
    group: bool
    chat_id: str

    def __init__(self) -> None:
        super().__init__()
        self._reload_after = False  # reload the history when the turn ends
        self._checking_in = False  # the check-in screen is up
        self._deferred: tuple[str, str] | None = None  # a check-in choice made while the reply was stopping
        self.closed = False  # the profile is locking: late messages of a reply are dropped

    # hooks the chat screen implements
    def _speaker(self) -> str:
        raise NotImplementedError

    async def _reload(self) -> None:
        raise NotImplementedError

    def _session(self) -> Session | None:
        raise NotImplementedError

    def _ready_session(self) -> Session | None:
        raise NotImplementedError

    def _generate(self, kind: Busy, make: Callable[[threading.Event], Iterator], view: Any) -> None:
        raise NotImplementedError

    # scene state
    def _paused_now(self) -> bool:
        return self.session is not None and self.session.paused

    def _show_scene_state(self) -> None:
        status = self.query_one(StatusBar)
        if self.session is not None and self.session.scene_ended:
            status.scene = "scene ended"
        elif self._paused_now():
            status.scene = "scene paused"
        else:
            status.scene = "group scene" if self.group else ""

    def _signal_word(self, text: str) -> bool:
        """The safeword or the slow-down word, typed alone."""
        settings = self._scene_settings()
        return is_safeword(text, settings.safeword) or is_safeword(text, settings.slowword)

    def _scene_settings(self) -> SceneSettings:
        if self.session is not None:
            return self.session.scene_settings
        try:  # no session yet (the model is loading)
            return load_scene_settings({"scene": self.app.ws.chat(self.chat_id).scene})
        except (OSError, CandlelitError):
            return SceneSettings()

    @work(thread=True, group="interrupt", exit_on_error=False)
    def _interrupt(self, text: str, speaker: str) -> None:
        """A signal word typed while a reply streams. The safeword stops the
        reply at once and pauses the scene; the slow-down word is recorded
        for the next reply."""
        session, cancel = self.session, self.cancel
        result: object = None
        try:
            if session is not None:
                result = session.interrupt(text, speaker)
        except Exception as exc:  # noqa: BLE001 - stop anyway; say why the pause was not recorded
            self.app.call_from_thread(self.notify, f"The pause was not recorded: {exc}", severity="error", markup=False)
        if isinstance(result, SlowDown):
            self.post_message(SlowedDown(result.by))
            return
        if not isinstance(result, ScenePaused) and cancel is not None:
            cancel.set()  # no pause recorded: at least stop the reply
        self.post_message(Paused(result.by if isinstance(result, ScenePaused) else speaker, "red"))

    @on(SlowedDown)
    def _slowed(self, msg: SlowedDown) -> None:
        if self.closed:
            return
        self._reload_after = self._reload_after or self.busy is not None
        self.notify(f"{msg.by} asked to slow down; the next reply will check in.", markup=False)

    @on(Paused)
    async def _paused(self, msg: Paused) -> None:
        if self.closed:
            return
        self._show_scene_state()
        if self.busy is not None:
            self._reload_after = True  # the history changes when the stopped reply is kept
        else:
            await self._reload()
        self._check_in(msg.by, msg.kind)

    def _check_in(self, by: str, kind: str) -> None:
        if self._checking_in:
            return
        self._checking_in = True
        self.app.push_screen(CheckInScreen(by, kind), self._checked_in)

    def _checked_in(self, result: tuple[str, str] | None) -> None:
        self._checking_in = False
        if self.closed:
            return
        if result is None:
            self.notify("The scene stays paused; send anything to check in again.", markup=False)
            return
        if self.busy is not None:
            self._deferred = result  # the stopped reply is still being kept: apply it after
            return
        choice, note = result
        session = self._session()
        if session is not None:
            try:
                session.resume_scene(choice, note, speaker=self._speaker())
            except (CandlelitError, SceneError, ValueError) as exc:
                self.notify(str(exc), title="Check-in", severity="error", markup=False)
                return
        self._show_scene_state()
        if choice == "end":
            self.notify("The scene has ended; it stays in your chats.", markup=False)
            self.call_after_refresh(self._leave)
            return
        self.notify("New direction noted." if choice == "change" else "The scene goes on.", markup=False)
        self.run_worker(self._reload(), group="reload")

    def _leave(self) -> None:
        if self.app.screen is self:
            self.app.pop_screen()

    def action_next_speaker(self) -> None:
        session = self._ready_session()
        if session is None:
            return
        names = list(session.ai_names)

        def chosen(name: str | None) -> None:
            if name and self.busy is None:
                self._generate("reply", lambda cancel: session.reply_as(name, cancel=cancel), None)

        self.app.push_screen(PickScreen("Who speaks next?", names), chosen)
