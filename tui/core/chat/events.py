"""What a chat session hands back: its errors, its stream events, and how
to tell stored messages apart (``message_kind``, ``is_signal``).

``tui.core.chat.session`` re-exports all of these; front ends may import them
from either module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tui.core.errors import CandlelitError
from tui.core.storage.model import Message

MessageKind = Literal["human", "character", "narrator", "system"]
LineKind = Literal["safeword", "slowword", "ooc", "story"]  # what sending a typed line would be
ResumeChoice = Literal["continue", "change", "end"]


class SessionError(CandlelitError):
    """A chat operation that cannot be done now; ``str()`` is one clear line.

    (A ``StoreError`` so that every front end already shows it as one line.)
    """


class SessionBusy(SessionError):
    """A reply is still being generated in this session."""


class NothingToContinue(SessionError):
    """``continue_reply`` needs a character's reply as the last message."""


class ScenePausedError(SessionError):
    """The scene is paused (the safeword was used); nothing is generated
    until someone chooses to continue, change direction or end it."""


@dataclass(frozen=True)
class SpeakerStarted:
    """A group scene's next reply begins; ``name`` is who writes it."""

    name: str


@dataclass(frozen=True)
class ScenePaused:
    """The safeword was used (by ``by``): generation stopped, the scene is
    paused and a check-in is due (``Session.resume_scene``)."""

    by: str
    signal: str = "red"


@dataclass(frozen=True)
class SlowDown:
    """The slow-down word was used (by ``by``): recorded; the next reply is
    asked to slow down and check in."""

    by: str


def message_kind(message: Message) -> MessageKind:
    """Who wrote a message: ``"human"``, ``"character"``, ``"narrator"`` or
    ``"system"`` (signals and other notes)."""
    if message.role == "system":
        return "system"
    if message.role == "user":
        return "human"
    return "narrator" if message.extra.get("narrator") is True else "character"


def is_signal(message: Message) -> bool:
    """A recorded safeword, slow-down word or check-in choice."""
    return message.role == "system" and isinstance(message.extra.get("signal"), str)


@dataclass(frozen=True)
class ReplyDone:
    """The reply is on disk."""

    message: Message
    reason: str


@dataclass(frozen=True)
class Impersonation:
    """The drafted user line (stored nowhere): the final event of ``impersonate``."""

    text: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
