"""Rehearsal: practise a hard conversation, then get gentle feedback.

Prompts live in ``prompts/rehearsal.txt``; nothing here writes to disk.
See docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tui.core import templates as prompt_files
from tui.core.engine.api import Chunk, Engine, EngineError, Finished, GenerationRequest, Sampling
from tui.core.errors import CandlelitError

MAX_TOPIC = 500
COACH = "Coach"

PARTNER_SAMPLING = Sampling(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=160)
FEEDBACK_SAMPLING = Sampling(temperature=0.5, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=200)

_SECTION = re.compile(r"^\[(partner|feedback)\]\s*$", re.MULTILINE)


class RehearsalError(CandlelitError):
    """A rehearsal that cannot go on; ``str()`` is one line."""


@dataclass(frozen=True)
class Rehearsal:
    """Who practises what with whom. ``partner`` is the character's name;
    ``about`` is its description (a hint for its voice)."""

    topic: str
    user: str
    partner: str
    about: str = ""

    def __post_init__(self) -> None:
        topic = " ".join(self.topic.split())
        if not topic:
            raise RehearsalError("say what you want to practise first")
        if len(topic) > MAX_TOPIC:
            raise RehearsalError(f"the topic is too long ({len(topic)} characters; at most {MAX_TOPIC})")
        object.__setattr__(self, "topic", topic)
        for key in ("user", "partner"):
            name = " ".join(getattr(self, key).split())
            if not name:
                raise RehearsalError(f"the rehearsal needs a {key} name")
            object.__setattr__(self, key, name)


@dataclass(frozen=True)
class Line:
    speaker: str
    text: str


def templates(text: str | None = None) -> dict[str, str]:
    """The ``partner`` and ``feedback`` templates from rehearsal.txt."""
    source = text if text is not None else prompt_files.load("rehearsal")
    parts = _SECTION.split(source)
    found = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(found) != {"partner", "feedback"}:
        raise RehearsalError("prompts/rehearsal.txt needs a [partner] and a [feedback] section")
    return found


def transcript(lines: Sequence[Line]) -> str:
    """``Name: text`` lines; blank lines inside a message are folded."""
    out = []
    for line in lines:
        body = re.sub(r"\n\s*\n+", "\n", line.text.replace("\r\n", "\n")).strip()
        if body:
            out.append(f"{line.speaker}: {body}")
    return "\n".join(out)


def _values(r: Rehearsal, lines: Sequence[Line]) -> dict[str, str]:
    return {
        "user": r.user,
        "partner": r.partner,
        "topic": r.topic,
        "about": " ".join(r.about.split()),
        "transcript": transcript(lines),
    }


def partner_prompt(r: Rehearsal, lines: Sequence[Line], template: str | None = None) -> str:
    """The prompt for the partner's next line; it ends with ``Partner:``."""
    tmpl = template if template is not None else templates()["partner"]
    return prompt_files.fill(tmpl, _values(r, lines))


def feedback_prompt(r: Rehearsal, lines: Sequence[Line], template: str | None = None) -> str:
    """The prompt for the coach's feedback on the exchange so far."""
    if not any(line.speaker == r.user and line.text.strip() for line in lines):
        raise RehearsalError("say something first; feedback needs at least one line of yours")
    tmpl = template if template is not None else templates()["feedback"]
    return prompt_files.fill(tmpl, _values(r, lines))


def _names(r: Rehearsal) -> list[str]:
    return list(dict.fromkeys([r.user, r.partner, COACH]))


def _stream(
    engine: Engine,
    prompt: str,
    stop: list[str],
    sampling: Sampling,
    cancel: threading.Event | None,
) -> Iterator[Chunk | Finished]:
    try:
        tokens = engine.tokenize(prompt, add_bos=True)
        n_ctx = engine.info.n_ctx
        if len(tokens) + min(sampling.max_tokens, 32) >= n_ctx:
            raise RehearsalError(
                f"the rehearsal is too long for the model's context ({len(tokens)} of {n_ctx} tokens); start over"
            )
        shown = ""
        for ev in engine.stream(GenerationRequest(tokens, sampling, stop=stop), cancel):
            if isinstance(ev, Finished):
                yield Finished(ev.text.strip(), ev.reason, ev.metrics)
                return
            piece = ev.text if shown else ev.text.lstrip()
            if piece:
                shown += piece
                yield Chunk(piece)
    except EngineError as exc:
        raise RehearsalError(f"the model failed: {exc}") from None
    yield Finished(shown.strip(), "cancelled", {})


def partner_reply(
    engine: Engine,
    r: Rehearsal,
    lines: Sequence[Line],
    *,
    sampling: Sampling | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Chunk | Finished]:
    """Stream the partner's next line: ``Chunk``s, then ``Finished`` with the
    whole line. It stops before anyone else's ``Name:``."""
    stop = [f"\n{n}:" for n in _names(r) if n != r.partner] + ["\n\n"]
    return _stream(engine, partner_prompt(r, lines), stop, sampling or PARTNER_SAMPLING, cancel)


def feedback(
    engine: Engine,
    r: Rehearsal,
    lines: Sequence[Line],
    *,
    sampling: Sampling | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Chunk | Finished]:
    """Stream the coach's feedback on the exchange (``Chunk``s, then ``Finished``)."""
    prompt = feedback_prompt(r, lines)
    stop = [f"\n{n}:" for n in _names(r) if n != COACH] + ["\n\n\n"]
    return _stream(engine, prompt, stop, sampling or FEEDBACK_SAMPLING, cancel)
