"""One chat message: the speaker's name and the text, shown literally.

Model and card text may contain Rich markup or terminal escapes; the name
is a markup-free Static and the body goes through ``neutralize`` before the
Markdown widget sees it. Streaming appends with ``Markdown.get_stream``
instead of re-rendering the whole message per token.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from tui.core.safe_text import neutralize


class MessageView(Vertical):
    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; }
    MessageView .speaker { text-style: bold; color: $accent; }
    MessageView.user .speaker { color: $success; }
    MessageView .body { margin: 0; padding: 0; }
    MessageView .mark { color: $warning; }
    """

    def __init__(self, speaker: str, text: str, *, role: str, msg_id: str | None = None, status: str = "ok") -> None:
        super().__init__(classes=role)
        self.speaker = speaker
        self.text = text
        self.role = role
        self.msg_id = msg_id
        self.status = status
        self._stream = None

    def compose(self) -> ComposeResult:
        yield Static(neutralize(self.speaker), classes="speaker", markup=False)
        yield Markdown(neutralize(self.text), classes="body")
        yield Static("", classes="mark", markup=False)

    def on_mount(self) -> None:
        self._show_status()

    def _show_status(self) -> None:
        self.query_one(".mark", Static).update("(stopped)" if self.status == "stopped" else "")

    async def append(self, chunk: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        self.text += chunk
        await self._stream.write(neutralize(chunk))

    async def finish(self, text: str, status: str, msg_id: str | None) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.msg_id = msg_id
        self.status = status
        if text != self.text:
            self.text = text
            await self.query_one(Markdown).update(neutralize(text))
        self._show_status()

    async def replace(self, text: str, status: str = "ok") -> None:
        self.text = text
        self.status = status
        await self.query_one(Markdown).update(neutralize(text))
        self._show_status()
