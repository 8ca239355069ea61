"""One chat message: the speaker's name and the text, shown literally.

Model and card text may contain Rich markup or terminal escapes; the name
is a markup-free Static and the body goes through ``neutralize`` before the
Markdown widget sees it. Streaming appends with ``Markdown.get_stream``
instead of re-rendering the whole message per token.

A focused message takes single-key actions (edit, delete, copy, branch);
it posts ``MessageView.Action`` and the screen decides what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Markdown, Static

from tui.core import Message as StoredMessage
from tui.core import neutralize


class MessageView(Vertical, can_focus=True):
    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView:focus { background: $boost; border-left: thick $accent; }
    MessageView.match { border-left: thick $warning; }
    MessageView .speaker { text-style: bold; color: $accent; }
    MessageView.user .speaker { color: $success; }
    MessageView .body { margin: 0; padding: 0; }
    MessageView .mark { color: $text-muted; height: auto; }
    """
    BINDINGS = [
        Binding("up", "act('up')", "Previous message", show=False, id="message.up"),
        Binding("down", "act('down')", "Next message", show=False, id="message.down"),
        Binding("e", "act('edit')", "Edit", id="message.edit"),
        Binding("d,delete", "act('delete')", "Delete from here", id="message.delete"),
        Binding("c", "act('copy')", "Copy", id="message.copy"),
        Binding("b", "act('branch')", "Branch", id="message.branch"),
        Binding("home", "act('first')", "First message", show=False, id="message.first"),
        Binding("end", "act('last')", "Last message", show=False, id="message.last"),
        Binding("pageup", "act('page_up')", "Page up", show=False, id="message.page_up"),
        Binding("n", "act('next_hit')", "Next match", show=False, id="message.next_match"),
        Binding("N", "act('previous_hit')", "Previous match", show=False, id="message.previous_match"),
    ]

    @dataclass
    class Action(Message):
        view: MessageView
        name: str

    def __init__(self, speaker: str, text: str, *, role: str, msg_id: str | None = None, status: str = "ok") -> None:
        super().__init__(classes=role)
        self.speaker = speaker
        self.text = text
        self.role = role
        self.msg_id = msg_id
        self.status = status
        self.swipe_pos: tuple[int, int] = (0, 1)
        self.show_swipes = False
        self._stream = None

    @classmethod
    def of(cls, m: StoredMessage) -> MessageView:
        view = cls(m.speaker, m.text, role=m.role, msg_id=m.id, status=m.status)
        view.swipe_pos = (m.swipe_index(), max(1, len(m.swipes())))
        return view

    def compose(self) -> ComposeResult:
        yield Static(neutralize(self.speaker), classes="speaker", markup=False)
        yield Markdown(neutralize(self.text), classes="body")
        yield Static("", classes="mark", markup=False)

    def on_mount(self) -> None:
        self.refresh_mark()

    def refresh_mark(self) -> None:
        parts = []
        if self.status == "stopped":
            parts.append("(stopped)")
        i, n = self.swipe_pos
        if self.show_swipes and n > 1:
            parts.append(f"‹ swipe {i + 1}/{n} ›")
        marks = self.query(".mark")
        if not marks:
            return  # not composed yet: on_mount draws it
        mark = marks.first(Static)
        mark.update("  ".join(parts))
        mark.display = bool(parts)

    def action_act(self, name: str) -> None:
        self.post_message(self.Action(self, name))

    async def append(self, chunk: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        self.text += chunk
        await self._stream.write(neutralize(chunk))

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def restart(self) -> None:
        """Clear the text before a new swipe streams in."""
        await self._stop_stream()
        self.text = ""
        self.status = "ok"
        await self.query_one(Markdown).update("")
        self.refresh_mark()

    async def finish(self, msg: StoredMessage) -> None:
        await self._stop_stream()
        await self.show_message(msg)

    async def show_message(self, msg: StoredMessage) -> None:
        self.msg_id = msg.id
        self.status = msg.status
        self.swipe_pos = (msg.swipe_index(), max(1, len(msg.swipes())))
        if msg.text != self.text:
            self.text = msg.text
            await self.query_one(Markdown).update(neutralize(msg.text))
        self.refresh_mark()
