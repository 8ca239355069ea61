"""A group scene: participants, who is typing, who speaks next, boundaries.

Pure logic (no model, files or UI): ``next_speakers`` applies naming first,
then the chat's policy (natural, round_robin, manual, auto). See
docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from tui.core.errors import CandlelitError

POLICIES = ("natural", "round_robin", "manual", "auto")
KINDS = ("human", "character", "narrator")
DEFAULT_TALKATIVENESS = 0.5
MAX_AUTO_TURNS = 20
MAX_SIGNAL_WORD = 40

SCENE_KEY = "scene"  # the chat.toml table that holds SceneSettings

_OOC_PREFIXES = ("((", "//")
_OOC_LABEL = re.compile(r"^\s*ooc\s*:\s*", re.IGNORECASE)


class SceneError(CandlelitError):
    """A scene setting or choice that cannot be used; ``str()`` is one line."""


# --------------------------------------------------------------------------
# settings


def _check_signal_word(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise SceneError(f"the {what} must be text")
    if "\n" in value or "\r" in value:
        raise SceneError(f"the {what} must be on one line")
    clean = _signal_key(value)
    if not clean or not any(ch.isalnum() for ch in clean):
        raise SceneError(f"the {what} needs at least one letter or digit")
    if len(clean) > MAX_SIGNAL_WORD:
        raise SceneError(f"the {what} is too long ({len(clean)} characters; at most {MAX_SIGNAL_WORD})")
    return " ".join(value.split())


@dataclass(frozen=True)
class SceneSettings:
    """How one chat's scene runs; stored in chat.toml under ``[scene]``."""

    policy: str = "natural"
    auto_turns: int = 2
    allow_repeat: bool = False
    narrator: bool = False
    safeword: str = "red"
    slowword: str = "yellow"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise SceneError(f"unknown turn policy {self.policy!r} (use one of {', '.join(POLICIES)})")
        turns = self.auto_turns
        if not isinstance(turns, int) or isinstance(turns, bool) or not 1 <= turns <= MAX_AUTO_TURNS:
            raise SceneError(f"auto_turns must be a whole number from 1 to {MAX_AUTO_TURNS}, not {turns!r}")
        for key in ("allow_repeat", "narrator"):
            if not isinstance(getattr(self, key), bool):
                raise SceneError(f"{key} must be true or false")
        safeword = _check_signal_word(self.safeword, "safeword")
        slowword = _check_signal_word(self.slowword, "slow-down word")
        if _signal_key(safeword) == _signal_key(slowword):
            raise SceneError("the safeword and the slow-down word must differ")
        object.__setattr__(self, "safeword", safeword)
        object.__setattr__(self, "slowword", slowword)


def load_scene_settings(chat: Mapping[str, Any]) -> SceneSettings:
    """The settings in a parsed chat.toml (its ``[scene]`` table); defaults
    for what is missing, unknown keys ignored, ``SceneError`` for bad values."""
    table = chat.get(SCENE_KEY, {})
    if not isinstance(table, Mapping):
        raise SceneError("chat.toml: [scene] must be a table")
    known = {k: table[k] for k in SceneSettings.__dataclass_fields__ if k in table}
    try:
        return SceneSettings(**known)
    except SceneError as exc:
        raise SceneError(f"chat.toml [scene]: {exc}") from None


def scene_settings_to_toml(settings: SceneSettings) -> dict[str, Any]:
    """The ``[scene]`` table for chat.toml (``chat[SCENE_KEY] = ...``)."""
    return asdict(settings)


# --------------------------------------------------------------------------
# participants


@dataclass(frozen=True)
class Participant:
    """Someone in the scene. ``talkativeness`` (0 to 1) only matters for
    characters under the ``natural`` policy."""

    name: str
    kind: str = "character"
    talkativeness: float = DEFAULT_TALKATIVENESS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not " ".join(self.name.split()):
            raise SceneError("a participant needs a name")
        object.__setattr__(self, "name", " ".join(self.name.split()))
        if self.kind not in KINDS:
            raise SceneError(f"unknown participant kind {self.kind!r} (use one of {', '.join(KINDS)})")
        object.__setattr__(self, "talkativeness", parse_talkativeness(self.talkativeness))


def parse_talkativeness(value: object) -> float:
    """A talkativeness from a card: number or numeric text, clamped to 0..1;
    ``DEFAULT_TALKATIVENESS`` when missing or unreadable."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_TALKATIVENESS
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return DEFAULT_TALKATIVENESS
    if not isinstance(value, int | float) or math.isnan(value):
        return DEFAULT_TALKATIVENESS
    return min(1.0, max(0.0, float(value)))


class _CardLike(Protocol):
    @property
    def display_name(self) -> str: ...

    extensions: dict[str, Any]


def character_participant(card: _CardLike, kind: str = "character") -> Participant:
    """A participant for a card; talkativeness from ``card.extensions``."""
    return Participant(card.display_name, kind, parse_talkativeness(card.extensions.get("talkativeness")))


# --------------------------------------------------------------------------
# who speaks next


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _name_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in name.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def find_mention(names: Iterable[str], text: str) -> str | None:
    """The name mentioned earliest in ``text`` (whole words, any case).

    A multi-word name also matches by its first word when no other name
    shares that first word ("Mara" finds "Mara Vell"). At one position the
    longer match wins ("Mara Vell" over a character called "Mara").
    """
    unique = list(dict.fromkeys(n for n in names if n.strip()))
    firsts: dict[str, list[str]] = {}
    for n in unique:
        firsts.setdefault(n.split()[0].casefold(), []).append(n)
    full_keys = {_key(n) for n in unique}
    best: tuple[int, int, str] | None = None  # (position, -length, name)
    for n in unique:
        forms = [n]
        first = n.split()[0]
        if (
            len(n.split()) > 1
            and len(first) > 1
            and len(firsts[first.casefold()]) == 1
            and first.casefold() not in full_keys
        ):
            forms.append(first)
        for form in forms:
            m = _name_pattern(form).search(text)
            if m and (best is None or (m.start(), -len(m.group())) < best[:2]):
                best = (m.start(), -len(m.group()), n)
    return best[2] if best else None


def _speaker_of(message: object) -> str | None:
    if isinstance(message, str):
        return message
    if isinstance(message, Mapping):
        speaker = message.get("speaker")
    else:
        speaker = getattr(message, "speaker", None)
    return speaker if isinstance(speaker, str) else None


def last_ai_speaker(participants: Sequence[Participant], messages: Sequence[object]) -> str | None:
    """The most recent speaker in ``messages`` that is an AI participant.

    Messages are speaker names, mappings with ``"speaker"``, or objects with
    a ``speaker`` attribute (``store.Message``)."""
    ai = {_key(p.name): p.name for p in participants if p.kind != "human"}
    for message in reversed(messages):
        speaker = _speaker_of(message)
        if speaker is not None and _key(speaker) in ai:
            return ai[_key(speaker)]
    return None


def _rotation_after(pool: Sequence[Participant], name: str | None) -> Participant:
    keys = [_key(p.name) for p in pool]
    if name is None or _key(name) not in keys:
        return pool[0]
    return pool[(keys.index(_key(name)) + 1) % len(pool)]


def _natural(
    pool: Sequence[Participant], last: str | None, settings: SceneSettings, rng: random.Random
) -> list[str]:
    banned = _key(last) if last is not None and not settings.allow_repeat and len(pool) > 1 else None
    eligible = [p for p in pool if _key(p.name) != banned]
    order = list(eligible)
    rng.shuffle(order)
    chosen = [p.name for p in order if rng.random() < p.talkativeness]
    if chosen:
        return chosen
    chatty = [p for p in eligible if p.talkativeness > 0]
    if chatty:
        return [rng.choices(chatty, weights=[p.talkativeness for p in chatty])[0].name]
    return [rng.choice(eligible).name]


def next_speakers(
    characters: Sequence[Participant],
    last_messages: Sequence[object],
    text: str,
    settings: SceneSettings,
    rng: random.Random,
) -> list[str]:
    """Who answers the human message ``text``, in speaking order.

    ``characters``: the scene's participants (humans are ignored, so the
    full list may be passed); their order is the round-robin order.
    ``last_messages``: recent messages, oldest first, used to find the
    previous AI speaker (see ``last_ai_speaker``). Deterministic for a given
    ``rng`` state. See the module docstring for the policies.
    """
    ai: list[Participant] = []
    for p in characters:
        if p.kind != "human" and all(_key(p.name) != _key(q.name) for q in ai):
            ai.append(p)
    if not ai or settings.policy == "manual":
        return []
    pool = [p for p in ai if p.kind == "character"] or ai
    named = find_mention([p.name for p in ai], text)
    last = last_ai_speaker(ai, last_messages)
    if settings.policy == "auto":
        out: list[str] = [named] if named else []
        cursor = named if named and any(_key(named) == _key(p.name) for p in pool) else last
        while len(out) < settings.auto_turns:
            nxt = _rotation_after(pool, cursor)
            if any(_key(nxt.name) == _key(n) for n in out):
                break
            out.append(nxt.name)
            cursor = nxt.name
        return out
    if named:
        return [named]
    if settings.policy == "round_robin":
        return [_rotation_after(pool, last).name]
    return _natural(pool, last, settings, rng)


# --------------------------------------------------------------------------
# safeword and out-of-character messages


def _signal_key(text: str) -> str:
    """``text`` without surrounding space, punctuation or symbols, with its
    inner spaces collapsed, case-folded: what "typed alone" compares."""
    def edge(ch: str) -> bool:
        return unicodedata.category(ch)[0] in "PSZC"

    start, end = 0, len(text)
    while start < end and edge(text[start]):
        start += 1
    while end > start and edge(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split()).casefold()


def is_safeword(text: str, word: str) -> bool:
    """True when ``text`` is ``word`` typed alone: any case, with any space,
    punctuation or symbols around it ("RED!", " red. "), but not inside a
    sentence ("red wine" is not the safeword)."""
    key = _signal_key(word)
    return bool(key) and _signal_key(text) == key


def is_ooc(text: str) -> bool:
    """An out-of-character message: starts with ``((``, ``//`` or ``OOC:``."""
    stripped = text.lstrip()
    return stripped.startswith(_OOC_PREFIXES) or bool(_OOC_LABEL.match(stripped))


def strip_ooc(text: str) -> str:
    """The words of an out-of-character message without its marker
    (``"(( brb ))"`` → ``"brb"``); other text is returned unchanged."""
    if not is_ooc(text):
        return text
    body = text.strip()
    if body.startswith("(("):
        body = body[2:]
        if body.endswith("))"):
            body = body[:-2]
    elif body.startswith("//"):
        body = body[2:]
    else:
        body = _OOC_LABEL.sub("", body, count=1)
    return body.strip()


# --------------------------------------------------------------------------
# boundaries and prompt helpers


class _PersonaLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def hard_limits(self) -> Sequence[str]: ...

    @property
    def soft_limits(self) -> Sequence[str]: ...


def _join_names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _collect(personas: Sequence[_PersonaLike], attr: str) -> dict[str, tuple[str, list[str]]]:
    """limit key -> (first spelling, owners in persona order)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for p in personas:
        for item in getattr(p, attr):
            text = " ".join(item.split())
            if not text:
                continue
            _spelling, owners = out.setdefault(text.casefold(), (text, []))
            if p.name not in owners:
                owners.append(p.name)
    return out


def boundaries_text(personas: Sequence[_PersonaLike]) -> str:
    """The participants' limits as plain prompt text; ``""`` when none.

    Every limit appears once (compared without regard to case), naming whose
    it is. A limit that is hard for anyone is listed only as hard.
    """
    hard = _collect(personas, "hard_limits")
    soft = {k: v for k, v in _collect(personas, "soft_limits").items() if k not in hard}
    if not hard and not soft:
        return ""
    lines = ["Boundaries of the people in this scene. Every character and the narrator respects them."]
    if hard:
        lines.append("Hard limits: never include these, not even as a suggestion:")
        lines += [f"- {text} ({_join_names(owners)})" for text, owners in hard.values()]
    if soft:
        lines.append("Soft limits: before going there, pause and ask, and accept a no:")
        lines += [f"- {text} ({_join_names(owners)})" for text, owners in soft.values()]
    return "\n".join(lines)


def speaker_instruction(name: str) -> str:
    """The volatile line that names who writes the next reply."""
    return f"Write the next reply only as {' '.join(name.split())}."


def _name_of(item: object) -> str:
    name = item if isinstance(item, str) else getattr(item, "name", None)
    if not isinstance(name, str):
        raise SceneError(f"not a participant: {item!r}")
    return " ".join(name.split())


def stop_names(all_participants: Iterable[object], speaker: str) -> list[str]:
    """Everyone but ``speaker`` (humans, characters, narrator), each once,
    in order: the names whose ``"\\nName:"`` must stop the reply. Items are
    names or objects with a ``name``."""
    out: list[str] = []
    seen = {_key(speaker)}
    for item in all_participants:
        name = _name_of(item)
        if name and _key(name) not in seen:
            seen.add(_key(name))
            out.append(name)
    return out


# --------------------------------------------------------------------------
# who is typing


def next_persona(personas: Sequence[object], current: str) -> str:
    """The persona after ``current`` (wrapping); the first one when
    ``current`` is unknown. Items are names or objects with a ``name``."""
    names = [_name_of(p) for p in personas]
    if not names:
        raise SceneError("this scene has no personas")
    keys = [_key(n) for n in names]
    if _key(current) not in keys:
        return names[0]
    return names[(keys.index(_key(current)) + 1) % len(names)]


def persona_by_number(personas: Sequence[object], n: int) -> str:
    """The ``n``-th persona, counting from 1 (as on the number keys)."""
    names = [_name_of(p) for p in personas]
    if not 1 <= n <= len(names):
        raise SceneError(f"no persona {n} (this scene has {len(names)})")
    return names[n - 1]
