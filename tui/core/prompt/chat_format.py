"""What every chat format shares: :class:`PromptMessage`, the :class:`ChatFormat` protocol, name helpers.

A chat message is written ``Name: text`` (system text carries no name) and a
generation prompt ends ``Name:`` with no trailing space.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tui.core.errors import CandlelitError

ROLES = ("system", "user", "assistant")
REPLY_ROLES = ("user", "assistant")

#: Joins consecutive messages of the same side inside one turn.
JOINER = "\n\n"

DEFAULT_NAMES = {"user": "User", "assistant": "Assistant"}


class FormatError(CandlelitError):
    """A chat format cannot be used; the message is one clear line for the user."""


@dataclass(frozen=True)
class PromptMessage:
    """One message of a prompt."""

    role: str  # "system" | "user" | "assistant"
    name: str  # speaker display name ("" for system)
    content: str


class ChatFormat(Protocol):
    """How a list of messages becomes one prompt string."""

    name: str
    add_bos: bool

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        """Full prompt text, ending with the reply prefix when ``reply_name`` is set."""
        ...

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        """End-of-turn markers plus ``"\\n{other}:"`` for every other participant."""
        ...


# --------------------------------------------------------------------------- helpers


def clean_name(name: str) -> str:
    """A display name on one line, without surrounding space."""
    return " ".join(name.split())


def check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    if role not in allowed:
        raise FormatError(
            f"unknown message role {role!r}; expected one of: {', '.join(allowed)}"
        )


def message_body(message: PromptMessage) -> str:
    """The text of a message inside a turn: ``Name: text`` (system: just text)."""
    check_role(message.role)
    content = message.content.strip()
    name = clean_name(message.name)
    if message.role == "system" or not name or not content:
        return content
    return f"{name}: {content}"


def reply_prefix(reply_name: str) -> str:
    name = clean_name(reply_name)
    return f"{name}:" if name else ""


def name_stops(reply_name: str, other_names: Iterable[str]) -> list[str]:
    me = clean_name(reply_name)
    stops: list[str] = []
    for other in other_names:
        name = clean_name(other)
        if name and name != me:
            stops.append(f"\n{name}:")
    return stops


def dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out
