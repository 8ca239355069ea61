"""The message composer: Enter sends, Shift+Enter or Ctrl+J adds a newline.

In a scene with several people at one keyboard the composer also knows who
is typing: its border reads "Alex is typing"; Tab on an EMPTY composer hands
it to the next persona and Alt+1..9 picks persona N. Every sent message
carries that speaker. With one persona nothing of this shows and Tab moves
the focus as before.

Most terminals send Alt+digit as ESC + digit, which Textual reads as the
character macOS gives for Option+digit ("¡", "™", "£", ...). On an empty
composer those characters count as Alt+1..9 too, so the direct pick works
in tmux and plain xterm alike; anywhere else in the text they are typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.keys import key_to_character
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import TextArea

from tui.core import next_persona, persona_by_number
from tui.ui.text import literal

MAX_PICK = 9  # Alt+1 .. Alt+9
# ESC + digit as Textual reads it (the macOS Option+digit characters)
OPTION_DIGITS = {"¡": 1, "™": 2, "£": 3, "¢": 4, "∞": 5, "§": 6, "¶": 7, "•": 8, "ª": 9}


class Composer(TextArea):
    """While it is empty, Left/Right/Up do not move a cursor; they post
    ``Navigate`` so the chat can swipe or select messages."""

    BINDINGS = [
        Binding("left", "arrow('left')", "Left", show=False, id="composer.left"),
        Binding("right", "arrow('right')", "Right", show=False, id="composer.right"),
        Binding("up", "arrow('up')", "Up", show=False, id="composer.up"),
        Binding("tab", "next_persona", "Next persona (empty composer)", show=False, id="composer.next_persona"),
        *(
            Binding(f"alt+{n}", f"pick_persona({n})", f"Type as persona {n}", show=False, id=f"composer.persona_{n}")
            for n in range(1, MAX_PICK + 1)
        ),
    ]

    speaker: reactive[str] = reactive("")

    @dataclass
    class Submitted(Message):
        composer: Composer
        text: str
        speaker: str = ""  # who typed it ("" when the composer was never told)

    @dataclass
    class Navigate(Message):
        composer: Composer
        key: str

    @dataclass
    class SpeakerChanged(Message):
        composer: Composer
        speaker: str

    def __init__(self, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self._personas: list[str] = []

    # -- who is typing ------------------------------------------------------
    @property
    def personas(self) -> list[str]:
        return list(self._personas)

    def set_personas(self, names: Sequence[str], current: str | None = None) -> None:
        """The people who take turns at this keyboard, in order; ``current``
        (default: the first) is typing now."""
        self._personas = [n for n in dict.fromkeys(names) if n]
        pick = current if current in self._personas else (self._personas[0] if self._personas else "")
        if pick == self.speaker:
            self._show_speaker()
        self.speaker = pick
        self.refresh_bindings()

    def watch_speaker(self, old: str, new: str) -> None:
        self._show_speaker()
        if old != new and new:
            self.post_message(self.SpeakerChanged(self, new))

    def _show_speaker(self) -> None:
        self.border_title = literal(f"{self.speaker} is typing") if len(self._personas) > 1 and self.speaker else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_persona":
            # with text (or one persona) Tab falls through and moves the focus
            return len(self._personas) > 1 and not self.text
        if action == "pick_persona":
            n = parameters[0] if parameters else 0
            return isinstance(n, int) and 1 <= n <= len(self._personas) and len(self._personas) > 1
        return super().check_action(action, parameters)

    def action_next_persona(self) -> None:
        self.speaker = next_persona(self._personas, self.speaker)

    def action_pick_persona(self, n: int) -> None:
        self.speaker = persona_by_number(self._personas, n)

    # -- keys ---------------------------------------------------------------
    def action_arrow(self, key: str) -> None:
        if self.text:
            getattr(self, f"action_cursor_{key}")()
        else:
            self.post_message(self.Navigate(self, key))

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text
            if text.strip():
                self.post_message(self.Submitted(self, text, self.speaker))
            return
        if event.key in ("shift+enter", "ctrl+j"):
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        n = OPTION_DIGITS.get(event.character or key_to_character(event.key) or "")
        if n is not None and not self.text and self.check_action("pick_persona", (n,)):
            event.prevent_default()
            event.stop()
            self.action_pick_persona(n)
            return
        await super()._on_key(event)
