"""What a prompt is made of and what it becomes: the texts the builder
takes (``Turn``, ``CharacterText``, ``PersonaText``, ``SceneText``) and the
``Prompt`` it returns, with its sections. See docs/ARCHITECTURE.md,
"Prompt layout"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tui.core.errors import CandlelitError


class Tokenize(Protocol):
    """``Engine.tokenize``: exact tokens of ``text``."""

    def __call__(self, text: str, *, add_bos: bool = True) -> list[int]: ...


class PromptTooLong(CandlelitError):
    """Even the fixed parts do not fit the context (one clear line)."""


@dataclass(frozen=True)
class Turn:
    """One chat message as the prompt sees it."""

    speaker: str
    role: str          # "user" | "assistant" | "system"
    text: str


@dataclass(frozen=True)
class CharacterText:
    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    mes_example: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""


@dataclass(frozen=True)
class PersonaText:
    """One human participant as the prompt sees it."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class SceneText:
    """What a group scene's prompt needs besides the chat itself.

    ``speaker`` writes the reply: a character, the narrator, or (for a
    drafted line) a persona. ``typing`` is the persona typing now (``{{user}}``
    in the volatile part; the first persona when empty). ``narrator`` is the
    narrator's name ("" = no narrator). ``boundaries`` is
    ``tui.core.scene.rules.boundaries_text`` of the personas. ``directions`` are
    short scene instructions for this reply only (slow down, a new direction).
    """

    characters: Sequence[CharacterText]
    personas: Sequence[PersonaText]
    speaker: str
    typing: str = ""
    narrator: str = ""
    boundaries: str = ""
    directions: Sequence[str] = ()


def join_names(names: Sequence[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class Section:
    name: str
    text: str
    tokens: int
    start: int         # index of the section's first token in the prompt


@dataclass
class Prompt:
    text: str
    tokens: list[int]
    sections: list[Section]
    stop: list[str]
    reply_name: str
    window_start: int            # index of the first chat message included
    dropped_examples: bool
    budget: int                  # n_ctx minus the reply reserve
    notes: list[str] = field(default_factory=list)

    def section_tokens(self, name: str) -> int:
        return sum(s.tokens for s in self.sections if s.name == name)

    def as_json(self, cached: Sequence[int] | None = None) -> dict:
        """The prompt as JSON. With ``cached`` (the tokens in the KV cache),
        ``reusable_tokens`` is the common prefix the engine keeps as is,
        ``shiftable_tokens`` what a context shift would keep on top, and each
        section says how many of its tokens would not be evaluated again."""
        from tui.core.engine.kv_ops import common_prefix, plan_shift

        reuse = shift = None
        kept: list[tuple[int, int]] = []  # [start, end) spans not evaluated again
        if cached is not None:
            reuse = min(common_prefix(cached, self.tokens), max(0, len(self.tokens) - 1))
            kept.append((0, reuse))
            plan = plan_shift(cached, self.tokens)
            shift = plan.length if plan is not None else 0
            if plan is not None:
                kept.append((plan.insert_end, plan.insert_end + plan.length))

        def cached_in(sec: Section) -> int | None:
            if cached is None:
                return None
            lo, hi = sec.start, sec.start + sec.tokens
            return sum(max(0, min(hi, b) - max(lo, a)) for a, b in kept)

        return {
            "text": self.text,
            "prompt_tokens": len(self.tokens),
            "budget": self.budget,
            "reply_name": self.reply_name,
            "stop": self.stop,
            "window_start": self.window_start,
            "dropped_examples": self.dropped_examples,
            "reusable_tokens": reuse,
            "shiftable_tokens": shift,
            "sections": [
                {
                    "name": s.name,
                    "tokens": s.tokens,
                    "start": s.start,
                    "cached_tokens": cached_in(s),
                    "text": s.text,
                }
                for s in self.sections
            ],
        }
