"""The message composer: Enter sends, Shift+Enter or Ctrl+J adds a newline."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea


class Composer(TextArea):
    """While it is empty, Left/Right/Up do not move a cursor; they post
    ``Navigate`` so the chat can swipe or select messages."""

    BINDINGS = [
        Binding("left", "arrow('left')", "Left", show=False, id="composer.left"),
        Binding("right", "arrow('right')", "Right", show=False, id="composer.right"),
        Binding("up", "arrow('up')", "Up", show=False, id="composer.up"),
    ]

    @dataclass
    class Submitted(Message):
        composer: Composer
        text: str

    @dataclass
    class Navigate(Message):
        composer: Composer
        key: str

    def action_arrow(self, key: str) -> None:
        if self.text:
            getattr(self, f"action_cursor_{key}")()
        else:
            self.post_message(self.Navigate(self, key))

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text
            if text.strip():
                self.post_message(self.Submitted(self, text))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        await super()._on_key(event)
