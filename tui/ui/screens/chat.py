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

import asyncio
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
    progress_bar,
    progress_text,
)
from tui.core import (
    Message as StoredMessage,
)
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen, EditScreen
from tui.ui.screens.checkin import Paused, SceneControls, SlowedDown
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar
from tui.ui.workers import pump

FIRST_PAGE = 20     # messages mounted when a chat opens (more than a screenful)
PAGE = 40           # messages mounted at a time when scrolling further
MAX_MOUNTED = 120   # message widgets at most, whatever the chat's length


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


class ChatScreen(SceneControls):
    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop / Back", id="chat.stop"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate"),
        Binding("ctrl+t", "continue_reply", "Continue", id="chat.continue"),
        Binding("ctrl+g", "impersonate", "Impersonate", id="chat.impersonate"),
        Binding("ctrl+f", "search", "Search", id="chat.search"),
        Binding("ctrl+o", "memory", "Memory", id="chat.memory"),
        Binding("ctrl+n", "next_speaker", "Next speaker…", id="chat.next_speaker"),
    ]

    def __init__(self, chat_id: str) -> None:
        super().__init__()
        self.chat_id = chat_id
        self.session: Session | None = None
        self.cancel: threading.Event | None = None
        self.streaming: MessageView | None = None
        self.busy: str | None = None  # what is generating: reply / swipe / continue / impersonate
        self.ready = False  # set once the history is on screen
        self._search: tuple[str, int] = ("", -1)
        self._pending: str | None = None  # sent text, until it is safely stored
        self.memory_cancel: threading.Event | None = None
        self._resumed = False
        self._cache_saved = False
        self.personas: list[str] = []  # who takes turns at the keyboard
        self.group = False  # several personas or several characters
        self._replies = 0  # replies finished in the running turn
        self._quiet_turn = False  # the line sent gets no reply by design (out of character)
        self.first = 0  # position in the chat of the first mounted message
        self.at_end = True  # the mounted window reaches the chat's last message
        self._loading = False  # a page is being mounted
        self._hits: list[int] = []  # positions of the last search's matches

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
            self.notify(f"An incomplete line from an interrupted write was set aside in {side}", severity="warning", markup=False)
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

    def _decorated(self, view: MessageView) -> MessageView:
        """Out-of-character lines: dimmed, labelled OOC (before mounting)."""
        if is_ooc(view.text):
            view.add_class("ooc")
            view.speaker = f"{view.speaker} · OOC"
        return view

    # -- the virtual message list ------------------------------------------------
    # Only a window of the chat is mounted: ``self.first`` is the position of
    # the first mounted message, ``self.at_end`` whether the window reaches the
    # chat's last message. Scrolling to an edge (or Page Up/Home/End on a
    # message) loads the next page there and drops pages far away, so at most
    # MAX_MOUNTED message widgets exist whatever the chat's length.

    def _views_of(self, msgs: list[StoredMessage]) -> list[MessageView]:
        return [self._decorated(MessageView.of(m)) for m in msgs]

    def _stored_views(self) -> list[MessageView]:
        """Mounted views that mirror stored messages (not a line being sent)."""
        return [v for v in self._views() if v.msg_id is not None]

    async def _show_range(self, start: int, stop: int, *, focus: int | None = None) -> None:
        """Mount messages ``start``..``stop`` (positions) and nothing else."""
        ws = self.app.ws
        total = ws.message_count(self.chat_id)
        start, stop = max(0, start), min(total, stop)
        session = self._session()
        if session is not None and total <= 1:
            msgs = session.messages()  # includes offered greeting swipes
        else:
            msgs = ws.page(self.chat_id, start, stop)
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            if focus is not None or stop < total:
                box.anchor(False)  # a page in the middle is not drawn at the bottom first
            await box.remove_children()
            self.first = start
            self.at_end = stop >= total
            await box.mount_all(self._views_of(msgs))
        finally:
            self._loading = False
        self._mark_last_swipes()
        if focus is not None:
            views = self._views()
            i = focus - start
            if 0 <= i < len(views):
                views[i].focus()
                self.call_after_refresh(views[i].scroll_visible, animate=False, top=True)
        elif self.at_end:
            box.anchor()
        else:
            self.call_after_refresh(box.scroll_home, animate=False)

    async def _show_end(self) -> None:
        """The chat's last page, scrolled to the bottom (what opening shows)."""
        total = self.app.ws.message_count(self.chat_id)
        await self._show_range(total - FIRST_PAGE, total)

    async def _to_end(self) -> None:
        """Before anything is added at the end: the window must reach it."""
        if not self.at_end:
            await self._show_end()

    def _scrolled(self, old: float, new: float) -> None:
        if self._loading or self.closed:
            return
        box = self.query_one("#messages", VerticalScroll)
        if new <= 0 and self.first > 0:
            self.run_worker(self._load_older(), group="pages", exclusive=True)
        elif new >= box.max_scroll_y and not self.at_end and self.busy is None:
            self.run_worker(self._load_newer(), group="pages", exclusive=True)

    async def _load_older(self) -> bool:
        """Mount the page before the first mounted message, keeping what is
        on screen where it was; drop pages far below. False at the start."""
        if self.first <= 0 or self._loading:
            return False
        ws = self.app.ws
        lo = max(0, self.first - PAGE)
        msgs = ws.page(self.chat_id, lo, self.first)
        if not msgs:
            return False
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            views = self._views()
            new = self._views_of(msgs)
            before_y, before_h = box.scroll_y, box.virtual_size.height
            if views:
                await box.mount_all(new, before=views[0])
            else:
                await box.mount_all(new)
            self.first = lo
            await self._settle()
            box.scroll_to(y=before_y + (box.virtual_size.height - before_h), animate=False, immediate=True)
            await self._trim(keep_top=True)
        finally:
            self._loading = False
        return True

    async def _load_newer(self) -> bool:
        """Mount the page after the last mounted message; drop pages far above."""
        if self.at_end or self._loading:
            return False
        ws = self.app.ws
        total = ws.message_count(self.chat_id)
        stored = self._stored_views()
        end = self.first + len(stored)
        msgs = ws.page(self.chat_id, end, end + PAGE)
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            await box.mount_all(self._views_of(msgs))
            self.at_end = end + len(msgs) >= total
            await self._trim(keep_top=False)
            self._mark_last_swipes()
        finally:
            self._loading = False
        return True

    async def _settle(self) -> None:
        """Wait until the views just mounted are laid out (heights known)."""
        done = asyncio.get_running_loop().create_future()
        self.call_after_refresh(lambda: done.done() or done.set_result(None))
        await done

    async def _trim(self, *, keep_top: bool) -> None:
        """Keep at most MAX_MOUNTED views: drop from the far end (never the
        message being written)."""
        views = self._views()
        extra = len(views) - MAX_MOUNTED
        if extra <= 0:
            return
        box = self.query_one("#messages", VerticalScroll)
        if keep_top:
            if self.busy is not None:
                return  # a reply streams at the bottom: it stays
            doomed = views[-extra:]
            self.at_end = False
            await box.remove_children(doomed)
        else:
            doomed = views[:extra]
            before_y, before_h = box.scroll_y, box.virtual_size.height
            await box.remove_children(doomed)
            self.first += extra
            await self._settle()
            box.scroll_to(y=max(0, before_y - (before_h - box.virtual_size.height)), animate=False, immediate=True)

    async def jump_to(self, position: int) -> None:
        """Show the message at ``position`` (loading its page) and focus it."""
        total = self.app.ws.message_count(self.chat_id)
        position = max(0, min(position, total - 1))
        mounted = self._stored_views()
        if self.first <= position < self.first + len(mounted):
            view = mounted[position - self.first]
            view.focus()
            view.scroll_visible(animate=False, top=True)
            return
        lo = max(0, position - PAGE // 2)
        await self._show_range(lo, min(total, lo + PAGE), focus=position)

    async def action_first_message(self) -> None:
        await self.jump_to(0)

    async def action_last_message(self) -> None:
        await self._show_end()
        views = self._views()
        if views:
            views[-1].focus()
            views[-1].scroll_visible(animate=False)

    def work_events(self) -> tuple[threading.Event | None, ...]:
        return (self.cancel, self.memory_cancel)  # leaving stops the reply; the partial text is kept

    def stop_work(self) -> None:
        """The profile is about to lock (the app pops this screen next): stop
        the reply and the memory work now, and handle no more of their
        messages (the store cannot be read once the key is gone)."""
        self.closed = True
        super().stop_work()

    def save_cache(self) -> None:
        """Keep the chat's KV cache on disk so reopening it answers fast."""
        if self.session is not None and self.session.ws.locked:
            return  # an encrypted profile locked meanwhile: nothing can be written
        if self.session is not None and not self._cache_saved:
            self._cache_saved = True
            try:
                self.session.save_cache()
            except Exception:  # noqa: BLE001 - only a cache; never block leaving
                pass

    def model_state_changed(self, text: str) -> None:
        status = self.query_one(StatusBar)
        status.model_state = text
        if self.app.engine is not None:
            status.n_ctx = self.app.engine.info.n_ctx
            if self._session() is not None and not self._resumed:
                self._resumed = True
                self._resume()

    @work(thread=True, exclusive=True, group="memory", exit_on_error=False)
    def _resume(self) -> None:
        """Restore the saved cache, then bring it up to date in the background."""
        session = self.session
        if session is None:
            return
        try:
            if session.restore_cache() == 0:
                pass  # nothing saved: the first reply reads the prompt
            session.warm()
        except Exception:  # noqa: BLE001 - only a cache
            pass
        try:
            behind = session.memory_behind()
        except Exception:  # noqa: BLE001 - memory is checked again after the next reply
            behind = False
        if behind and not self.closed:
            self.app.call_from_thread(self._upkeep)  # a backlog: catch up in the background

    @work(thread=True, exclusive=True, group="memory", exit_on_error=False)
    def _upkeep(self) -> None:
        """Fold old messages into memory while the window is over budget: after
        a reply, and on opening a chat with a backlog (an import), oldest
        first, each fold saved as it is done. A reply preempts it; the next
        reply's upkeep goes on from there."""
        session = self.session
        if session is None or self.closed:
            return
        if not session.memory_due():
            return
        self.memory_cancel = cancel = threading.Event()

        def progress(folded: int, total: int) -> None:
            if not self.closed:
                self.app.call_from_thread(self._memory_state, f"{progress_text(folded, total)} {progress_bar(folded, total)}")

        self.app.call_from_thread(self._memory_state, "updating memory…")
        try:
            up = session.catch_up_memory(cancel, progress)
        except Exception as exc:  # noqa: BLE001 - the old memory stays
            up = None
            self.app.call_from_thread(self.notify, f"Memory was not updated: {exc}", markup=False)
        finally:
            if not self.closed:
                self.app.call_from_thread(self._memory_state, "")
        if up is not None and up.failed and "reply came first" not in up.failed:
            self.app.call_from_thread(self.notify, f"Memory was not updated: {up.failed}", markup=False)

    def _memory_state(self, text: str) -> None:
        self.query_one(StatusBar).memory = text

    def action_memory(self) -> None:
        from tui.ui.screens.memory import MemoryScreen

        session = self._session()
        if session is None:
            self.notify("The model is still loading.", markup=False)
            return
        self.app.push_screen(MemoryScreen(session, chat_title=self.title or ""))

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

    def _views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def _mark_last_swipes(self) -> None:
        views = self._views()
        for v in views:
            v.show_swipes = self.at_end and v is views[-1] and v.role == "assistant"
            v.refresh_mark()

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
        self, kind: str, make: Callable[[threading.Event], Iterator], view: MessageView | None
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
        if self.streaming is None:
            await self._open_view(self._default_speaker())
        await self.streaming.append(msg.text)

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
        for v, m in zip(reversed(views), reversed(stored)):
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
        elif kind == "reply" and self.group and not self._quiet_turn and not self._checking_in and not self._paused_now():
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
        if event.name in ("up", "down"):
            views = self._views()
            i = views.index(view) + (-1 if event.name == "up" else 1)
            if i < 0 and await self._load_older():
                views = self._views()
                i = views.index(view) - 1
            elif i >= len(views) and await self._load_newer():
                views = self._views()
                i = views.index(view) + 1
            if 0 <= i < len(views):
                views[i].focus()
                views[i].scroll_visible()
            elif i >= len(views):
                self.query_one(Composer).focus()
            return
        if event.name == "page_up":
            box = self.query_one("#messages", VerticalScroll)
            if box.scroll_y <= 0:
                await self._load_older()
            box.scroll_page_up(animate=False)
            return
        if event.name in ("first", "last"):
            await (self.action_first_message() if event.name == "first" else self.action_last_message())
            return
        if event.name in ("next_hit", "previous_hit"):
            await self._next_hit(1 if event.name == "next_hit" else -1)
            return
        if event.name == "copy":
            self.app.copy_to_clipboard(view.text)
            self.notify("Copied to the clipboard (OSC 52).", markup=False)
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

    # -- search -------------------------------------------------------------------
    def action_search(self) -> None:
        def run(query: str | None) -> None:
            if query is None:
                return
            self.run_worker(self.find(query), group="search", exclusive=True)

        self.app.push_screen(AskScreen("Search this chat (Enter again: next match):", self._search[0]), run)

    async def find(self, query: str) -> int:
        """Search the whole chat for ``query`` and jump to the next match
        (loading its page); returns the number of matching messages."""
        if query != self._search[0]:
            hits = self.app.ws.search_positions(self.chat_id, query)
            self._hits = [pos for pos, _m, _spans in hits]
            self._search = (query, -1)
        if not self._hits:
            for v in self._views():
                v.remove_class("match")
            self.notify(f"No messages contain “{query}”." if query.strip() else "Search cleared.", markup=False)
            self._search = (query, -1)
            return 0
        await self._next_hit(1)
        return len(self._hits)

    async def _next_hit(self, step: int) -> None:
        """Jump to the next (+1) or previous (-1) match of the last search."""
        query, i = self._search
        if not self._hits:
            return
        i = (i + step) % len(self._hits) if i >= 0 or step > 0 else len(self._hits) - 1
        self._search = (query, i)
        await self.jump_to(self._hits[i])
        self._mark_matches()
        self.notify(f"Match {i + 1} of {len(self._hits)} · n/N next/previous", markup=False)

    def _mark_matches(self) -> None:
        hits = set(self._hits)
        for offset, v in enumerate(self._stored_views()):
            v.set_class(self.first + offset in hits, "match")
