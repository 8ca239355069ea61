"""The chat: messages, a composer, and a status bar.

One turn, one direction: ``Composer.Submitted`` → ``session.send`` in a
thread worker → chunks are ``post_message``d (the worker never waits for
the UI) → the streaming ``MessageView`` appends them → ``ReplyDone`` marks
the reply saved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.core.engine import Chunk
from tui.core.safe_text import neutralize
from tui.core.session import ReplyDone, Session
from tui.core.store import Message as StoredMessage
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar


@dataclass
class TokenArrived(Message):
    text: str


@dataclass
class TurnDone(Message):
    message: StoredMessage


@dataclass
class TurnFailed(Message):
    error: str


class ChatScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop / Back", id="chat.stop"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="chat.regenerate", show=False),
    ]

    def __init__(self, chat_id: str) -> None:
        super().__init__()
        self.chat_id = chat_id
        self.session: Session | None = None
        self.cancel: threading.Event | None = None
        self.streaming: MessageView | None = None
        self.ready = False  # set once the history is on screen

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="messages")
        yield Static("", id="typing", markup=False)
        yield Composer(id="composer")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        ws = self.app.ws
        info = ws.store.chat(self.chat_id)
        self.title = neutralize(info.title)
        self.sub_title = "LOCAL"
        msgs, report = ws.store.messages(self.chat_id)
        for side in report.torn:
            self.notify(f"An incomplete line from an interrupted write was set aside in {side}", severity="warning", markup=False)
        box = self.query_one("#messages", VerticalScroll)
        await box.mount_all(MessageView(m.speaker, m.text, role=m.role, msg_id=m.id, status=m.status) for m in msgs)
        box.anchor()
        last = next((m for m in reversed(msgs) if m.metrics), None)
        status = self.query_one(StatusBar)
        status.metrics = last.metrics if last else None
        self.query_one("#typing", Static).update(f"{neutralize(ws.persona().name)} is typing · Enter send · Shift+Enter/Ctrl+J newline · Esc stop")
        self.model_state_changed(self.app.model_state)
        self.query_one(Composer).focus()
        self.ready = True

    def model_state_changed(self, text: str) -> None:
        status = self.query_one(StatusBar)
        status.model_state = text
        engine = self.app.engine
        if engine is not None:
            status.n_ctx = engine.info.n_ctx

    def _session(self) -> Session | None:
        if self.session is None and self.app.engine is not None:
            self.session = Session(self.app.ws, self.chat_id, self.app.engine)
        return self.session

    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        if self.streaming is not None:
            self.notify("A reply is still being written; press Esc to stop it.", markup=False)
            return
        session = self._session()
        if session is None:
            self.notify("The model is still loading; your text is kept.", markup=False)
            return
        text = event.text
        event.composer.clear()
        persona = self.app.ws.persona().name
        box = self.query_one("#messages", VerticalScroll)
        await box.mount(MessageView(persona, text, role="user"))
        self.streaming = MessageView(session.character.card.display_name, "", role="assistant")
        await box.mount(self.streaming)
        box.anchor()
        self.cancel = threading.Event()
        self.query_one(StatusBar).busy = "writing…"
        self._run_turn(session, text, self.cancel, event.composer)

    @work(thread=True, exclusive=True, group="turn", exit_on_error=False)
    def _run_turn(self, session: Session, text: str, cancel: threading.Event, composer: Composer) -> None:
        try:
            for ev in session.send(text, cancel=cancel):
                if isinstance(ev, Chunk):
                    self.post_message(TokenArrived(ev.text))
                elif isinstance(ev, ReplyDone):
                    self.post_message(TurnDone(ev.message))
        except Exception as exc:  # noqa: BLE001 - shown as a notice; nothing typed is lost
            self.post_message(TurnFailed(str(exc) or exc.__class__.__name__))

    @on(TokenArrived)
    async def _token(self, msg: TokenArrived) -> None:
        if self.streaming is not None:
            await self.streaming.append(msg.text)

    @on(TurnDone)
    async def _done(self, msg: TurnDone) -> None:
        view, self.streaming = self.streaming, None
        if view is not None:
            await view.finish(msg.message.text, msg.message.status, msg.message.id)
        status = self.query_one(StatusBar)
        status.busy = ""
        status.metrics = msg.message.metrics

    @on(TurnFailed)
    async def _failed(self, msg: TurnFailed) -> None:
        view, self.streaming = self.streaming, None
        if view is not None and not view.text:
            await view.remove()
        self.query_one(StatusBar).busy = ""
        self.notify(msg.error, title="The reply failed", severity="error", timeout=20, markup=False)

    def action_stop_or_back(self) -> None:
        if self.streaming is not None and self.cancel is not None:
            self.cancel.set()
        else:
            self.app.pop_screen()

    def action_regenerate(self) -> None:
        self.notify("Regenerate is not available yet.", markup=False)
