"""The chat: messages, a composer, and a status bar.

One turn, one direction: ``Composer.Submitted`` → a ``Session`` method in a
thread worker → chunks are ``post_message``d (the worker never waits for
the UI) → the streaming ``MessageView`` appends them → ``ReplyDone`` marks
the reply saved. Every generating action (send, regenerate/swipe, continue,
impersonate) goes through ``_generate``; Esc sets the cancel event.

Group scenes (several personas at one keyboard, several characters): the
composer says who is typing and each sent line carries that speaker; every
reply streams under its own speaker (``SpeakerStarted`` opens a new
message); the safeword typed alone pauses the scene (while a reply streams,
``Session.interrupt`` stops it at once) and the check-in screen asks how to
go on (``Session.resume_scene``); Ctrl+N picks who answers next
(``Session.reply_as``); those scene controls live in ``checkin.py``
(``SceneControls``, this screen's base). Out-of-character lines ("((",
"//", "OOC:") are shown dimmed and labelled OOC.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

from tui.core import (
    CandlelitError,
    Chunk,
    Impersonation,
    ReplyDone,
    ScenePaused,
    ScenePausedError,
    Session,
    SlowDown,
    SpeakerStarted,
    is_ooc,
    neutralize,
)
from tui.core import Message as StoredMessage
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import EditScreen
from tui.ui.screens.chat_memory import ChatMemoryWork
from tui.ui.screens.chat_window import FIRST_PAGE
from tui.ui.screens.checkin import Busy, Paused, SlowedDown
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar
from tui.ui.workers import pump


@dataclass
class TokenArrived(Message):
    text: str


@dataclass
class SpeakerArrived(Message):
    name: str


@dataclass
class TurnEnded(Message):
    pass


@dataclass
class TurnDone(Message):
    message: StoredMessage


@dataclass
class DraftDone(Message):
    text: str


@dataclass
class TurnFailed(Message):
    error: str
    paused: bool = False  # the scene is paused: nothing was generated


def _turn_failed(exc: Exception) -> TurnFailed:
    if isinstance(exc, ScenePausedError):
        return TurnFailed(str(exc) or "the scene is paused", paused=True)
    return TurnFailed(str(exc) or exc.__class__.__name__)  # shown as a notice; nothing typed is lost


class ChatScreen(ChatMemoryWork):
    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop / Back", id="chat.stop"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate"),
        Binding("ctrl+t", "continue_reply", "Continue", id="chat.continue"),
        Binding("ctrl+g", "impersonate", "Impersonate", id="chat.impersonate"),
        Binding("ctrl+f", "search", "Search", id="chat.search"),
        Binding("ctrl+o", "memory", "Memory", id="chat.memory"),
        Binding("ctrl+n", "next_speaker", "Next speaker…", id="chat.next_speaker"),
    ]

    def chat_shown(self) -> str | None:
        return self.chat_id

    def __init__(self, chat_id: str) -> None:
        super().__init__()
        self.chat_id = chat_id
        self.session: Session | None = None
        self.cancel: threading.Event | None = None
        self.streaming: MessageView | None = None
        self.busy: Busy | None = None  # what is generating
        self.ready = False  # set once the history is on screen
        self._pending: str | None = None  # sent text, until it is safely stored
        self.personas: list[str] = []  # who takes turns at the keyboard
        self.group = False  # several personas or several characters
        self._replies = 0  # replies finished in the running turn
        self._quiet_turn = False  # the line sent gets no reply by design (out of character)

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="messages")
        yield Static("", id="typing", markup=False)
        yield Composer(id="composer")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        ws = self.app.ws
        info = ws.chat(self.chat_id)
        self.title = neutralize(info.title)
        self.sub_title = "LOCAL"
        report = ws.check_chat(self.chat_id)
        for side in report.torn:
            self.notify(
                f"An incomplete line from an interrupted write was set aside in {side}",
                severity="warning",
                markup=False,
            )
        await self._show_end()
        if self.closed:
            return  # the profile locked while the history was being shown
        box = self.query_one("#messages", VerticalScroll)
        self.watch(box, "scroll_y", self._scrolled, init=False)
        tail, _start = ws.tail(self.chat_id, FIRST_PAGE)
        last = next((m for m in reversed(tail) if m.metrics), None)
        self.query_one(StatusBar).metrics = last.metrics if last else None
        self.group = len(info.personas) > 1 or len(info.characters) > 1 or info.scene.get("narrator") is True
        self.personas = list(dict.fromkeys(info.personas)) if len(info.personas) > 1 else [ws.persona().name]
        composer = self.query_one(Composer)
        composer.set_personas(self.personas)
        self._show_typing()
        self._show_scene_state()
        self.refresh_bindings()
        self.model_state_changed(self.app.model_state)
        composer.focus()
        self.ready = True

    # -- who is typing ---------------------------------------------------------
    def _speaker(self) -> str:
        return self.query_one(Composer).speaker or self.app.ws.persona().name

    def _show_typing(self) -> None:
        name = neutralize(self._speaker())
        if len(self.personas) > 1:
            n = min(len(self.personas), 9)
            text = f"{name} is typing · Tab: next person · Alt+1…{n}: pick · Enter send · Ctrl+N: who answers · F1 help"
        else:
            text = f"{name} is typing · Enter send · Shift+Enter/Ctrl+J newline · ↑ select messages · F1 help"
        self.query_one("#typing", Static).update(text)

    @on(Composer.SpeakerChanged)
    def _speaker_changed(self, event: Composer.SpeakerChanged) -> None:
        self._show_typing()

    def work_events(self) -> tuple[threading.Event | None, ...]:
        return (self.cancel, self.memory_cancel)  # leaving stops the reply; the partial text is kept

    def stop_work(self) -> None:
        """The profile is about to lock (the app pops this screen next): stop
        the reply and the memory work now, and handle no more of their
        messages (the store cannot be read once the key is gone)."""
        self.closed = True
        super().stop_work()

    def _session(self) -> Session | None:
        if self.session is None and self.app.engine is not None:
            self.session = Session(self.app.ws, self.chat_id, self.app.engine)
            if self.is_mounted:
                self._show_scene_state()
        return self.session

    def _ready_session(self) -> Session | None:
        if self.busy is not None:
            self.notify("A reply is still being written; press Esc to stop it.", markup=False)
            return None
        session = self._session()
        if session is None:
            self.notify("The model is still loading; your text is kept.", markup=False)
        return session

    # -- generating --------------------------------------------------------------
    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        text = event.text
        speaker = event.speaker or self.app.ws.persona().name
        if self.busy is not None and self.session is not None and self._signal_word(text):
            event.composer.clear()
            self._interrupt(text, speaker)  # the safeword stops the reply at once and pauses
            return
        session = self._ready_session()
        if session is None:
            return
        from tui.ui.screens.tripwire import confirm_send

        # real identifying data (email, phone, address...) asks first; the
        # text stays in the composer unless the user sends it anyway
        if await confirm_send(self.app, text) != "send":
            event.composer.focus()
            return
        self._pending = text
        self._quiet_turn = is_ooc(text)
        event.composer.clear()
        await self._to_end()
        box = self.query_one("#messages", VerticalScroll)
        await box.mount(self._decorated(MessageView(speaker, text, role="user")))
        box.anchor()
        # each reply's message appears when its speaker starts (or its first chunk comes)
        self._generate("reply", lambda cancel: session.send(text, speaker=speaker, cancel=cancel), None)

    def _generate(
        self, kind: Busy, make: Callable[[threading.Event], Iterator], view: MessageView | None
    ) -> None:
        self.busy = kind
        self.streaming = view
        self._replies = 0
        self.cancel = threading.Event()
        self.query_one(StatusBar).busy = {"impersonate": "drafting your line…"}.get(kind, "writing…")
        self._run(make, self.cancel)

    @work(thread=True, exclusive=True, group="turn", exit_on_error=False)
    def _run(self, make: Callable[[threading.Event], Iterator], cancel: threading.Event) -> None:
        pump(
            self,
            lambda: make(cancel),
            {
                Chunk: lambda ev: TokenArrived(ev.text),
                SpeakerStarted: lambda ev: SpeakerArrived(ev.name),
                ReplyDone: lambda ev: TurnDone(ev.message),
                Impersonation: lambda ev: DraftDone(ev.text),
                ScenePaused: lambda ev: Paused(ev.by, ev.signal),
                SlowDown: lambda ev: SlowedDown(ev.by),
            },
            failed=_turn_failed,
            done=TurnEnded,
        )

    def _default_speaker(self) -> str:
        session = self.session
        return session.character.card.display_name if session is not None else ""

    async def _open_view(self, name: str) -> MessageView:
        view = MessageView(name, "", role="assistant")
        box = self.query_one("#messages", VerticalScroll)
        await box.mount(view)
        box.anchor()
        self.streaming = view
        return view

    @on(SpeakerArrived)
    async def _speaker_started(self, msg: SpeakerArrived) -> None:
        if self.closed:
            return
        if self.busy in (None, "impersonate", "continue"):
            return  # a continuation stays in its message
        view = self.streaming
        if view is not None and not view.text:  # a swipe restarted it, or nothing came yet
            view.speaker = msg.name
            view.query_one(".speaker", Static).update(neutralize(msg.name))
        else:
            await self._open_view(msg.name)

    @on(TokenArrived)
    async def _token(self, msg: TokenArrived) -> None:
        if self.closed:
            return
        if self.busy == "impersonate":
            self.query_one(Composer).insert(msg.text)
            return
        view = self.streaming or await self._open_view(self._default_speaker())
        await view.append(msg.text)

    @on(TurnDone)
    async def _done(self, msg: TurnDone) -> None:
        if self.closed:
            return
        view, self.streaming = self.streaming, None
        self._pending = None
        self._replies += 1
        if view is not None:
            await view.finish(msg.message)
        elif not any(v.msg_id == msg.message.id for v in self._views()):
            box = self.query_one("#messages", VerticalScroll)
            await box.mount(self._decorated(MessageView.of(msg.message)))  # a reply without chunks
        # the views at the end mirror the chat's last messages one to one:
        # give the new ones their ids (reading only the tail)
        views = self._views()
        stored, _start = self.app.ws.tail(self.chat_id, len(views))
        for v, m in zip(reversed(views), reversed(stored), strict=False):
            v.msg_id = m.id
        self._mark_last_swipes()
        self.query_one(StatusBar).metrics = msg.message.metrics

    @on(TurnEnded)
    async def _ended(self, msg: TurnEnded) -> None:
        if self.closed:
            return
        kind, self.busy, self.streaming = self.busy, None, None
        self._pending = None
        self.query_one(StatusBar).busy = ""
        if self._reload_after:
            self._reload_after = False
            await self._reload()
        if self._deferred is not None:
            choice, self._deferred = self._deferred, None
            self._checked_in(choice)
        if kind in ("reply", "swipe", "continue") and self._replies:
            self._cache_saved = False
            self._upkeep()
        elif (
            kind == "reply" and self.group and not self._quiet_turn and not self._checking_in and not self._paused_now()
        ):
            self.notify("Nobody has answered yet: press Ctrl+N to choose who speaks next.", markup=False)

    @on(DraftDone)
    def _draft_done(self, msg: DraftDone) -> None:
        if self.closed:
            return
        self.busy = None
        self.query_one(StatusBar).busy = ""
        composer = self.query_one(Composer)
        if composer.text.strip() != msg.text.strip():
            composer.text = msg.text.strip()
        composer.focus()

    @on(TurnFailed)
    async def _failed(self, msg: TurnFailed) -> None:
        if self.closed:
            return
        view, self.streaming, kind, self.busy = self.streaming, None, self.busy, None
        pending, self._pending = self._pending, None
        self._reload_after = False
        self.query_one(StatusBar).busy = ""
        if msg.paused:
            self.notify(msg.error, title="The scene is paused", severity="warning", markup=False)
        else:
            self.notify(msg.error, title="The reply failed", severity="error", timeout=20, markup=False)
        if pending is not None:
            stored, _start = self.app.ws.tail(self.chat_id, 8)
            user_lines = [m for m in stored if m.role == "user"]
            if not user_lines or user_lines[-1].text != pending:
                # it never reached the disk (disk full...): give the text back
                composer = self.query_one(Composer)
                if not composer.text:
                    composer.text = pending
        if view is not None or (kind is not None and kind != "impersonate"):
            await self._reload()
        if msg.paused:
            self._show_scene_state()
            if not (self.session is not None and self.session.scene_ended):
                self._check_in("", "paused")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_speaker":
            return self.group
        return super().check_action(action, parameters)

    async def _reload(self) -> None:
        if self.closed:
            return
        await self._show_end()

    def action_stop_or_back(self) -> None:
        if self.busy is not None and self.cancel is not None:
            self.cancel.set()
        elif isinstance(self.focused, MessageView):
            self.query_one(Composer).focus()
        else:
            self.app.pop_screen()

    def _last_ai_view(self) -> MessageView | None:
        views = self._views()
        return views[-1] if views and views[-1].role == "assistant" else None

    async def action_regenerate(self) -> None:
        session = self._ready_session()
        if session is None:
            return
        await self._to_end()
        view = self._last_ai_view()
        if view is None:
            view = MessageView(session.character.card.display_name, "", role="assistant")
            await self.query_one("#messages", VerticalScroll).mount(view)
        else:
            await view.restart()
        self._generate("swipe", lambda cancel: session.regenerate(cancel=cancel), view)

    async def action_continue_reply(self) -> None:
        session = self._ready_session()
        await self._to_end()
        view = self._last_ai_view()
        if session is None:
            return
        if view is None:
            self.notify("There is no reply to continue.", markup=False)
            return
        self._generate("continue", lambda cancel: session.continue_reply(cancel=cancel), view)

    def action_impersonate(self) -> None:
        session = self._ready_session()
        if session is None:
            return
        composer = self.query_one(Composer)
        composer.clear()
        self._generate("impersonate", lambda cancel: session.impersonate(cancel=cancel), None)

    async def action_swipe(self, direction: int) -> None:
        if self.query_one(Composer).text:
            return  # arrows move the cursor while there is text
        session = self._ready_session()
        await self._to_end()
        view = self._last_ai_view()
        if session is None or view is None:
            return
        try:
            msg = session.swipe(direction)
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        if msg is None:
            if direction > 0:
                await self.action_regenerate()
            return
        await view.show_message(msg)

    async def action_focus_messages(self) -> None:
        if self.query_one(Composer).text:
            return
        await self._to_end()
        views = self._views()
        if views:
            views[-1].focus()
            views[-1].scroll_visible()

    @on(Composer.Navigate)
    async def _navigate(self, event: Composer.Navigate) -> None:
        if event.key == "up":
            await self.action_focus_messages()
        else:
            await self.action_swipe(-1 if event.key == "left" else 1)

    # -- actions on one message (the focused one) -----------------------------
    @on(MessageView.Action)
    async def _message_action(self, event: MessageView.Action) -> None:
        view = event.view
        if await self._move_in_window(view, event.name):
            return
        if event.name == "copy":
            after = self.app.copy_text(view.text)
            cleared = f"; it is cleared in {after} s" if after else ""
            self.notify(f"Copied to the clipboard (OSC 52){cleared}.", markup=False)
            return
        session = self._ready_session()
        if session is None or view.msg_id is None:
            return
        if event.name == "edit":
            def save(text: str | None) -> None:
                if text is None or text == view.text:
                    return
                try:
                    msg = session.edit(view.msg_id, text)
                except CandlelitError as exc:
                    self.notify(str(exc), severity="error", markup=False)
                    return
                self.run_worker(view.show_message(msg))

            self.app.push_screen(EditScreen(view.text), save)
        elif event.name == "delete":
            def really(yes: bool | None) -> None:
                if yes:
                    n = session.delete_from(view.msg_id)
                    self.notify(f"Deleted {n} message{'s' if n != 1 else ''}.", markup=False)
                    self.run_worker(self._reload())

            stored = self._stored_views()
            pos = self.first + stored.index(view) if view in stored else self.first
            after = max(0, self.app.ws.message_count(self.chat_id) - pos - 1)
            extra = f" and the {after} after it" if after else ""
            self.app.push_screen(ConfirmScreen(f"Delete this message{extra}? This cannot be undone."), really)
        elif event.name == "branch":
            info = session.branch(view.msg_id)
            self.notify(f"Branched into “{info.title}”.", markup=False)
            self.app.switch_screen(ChatScreen(info.id))
