"""Scenario ideas for a couple, saved in ``ideas.toml``, and starting a scene
from one (``new_scene_chat``).

See docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tui.core import templates
from tui.core.cards.macros import expand
from tui.core.engine.api import Engine, EngineError, Finished, GenerationRequest, Sampling
from tui.core.errors import CandlelitError
from tui.core.fsio import as_path, atomic_write
from tui.core.scene.rules import SceneSettings, boundaries_text
from tui.core.storage.errors import StoreError
from tui.core.storage.model import ChatInfo, Message, utc_now
from tui.core.storage.toml_files import read_toml, upgrade

IDEAS_FILE = "ideas.toml"
IDEAS_VERSION = 1
DEFAULT_COUNT = 5      # ideas asked for
MAX_IDEAS = 10         # most ideas kept from one generation
MAX_SAVED = 200        # ideas kept in ideas.toml
MIN_IDEA = 12          # shorter lines are not ideas
MAX_IDEA = 280         # characters; longer ones are cut at a sentence end

#: Themes offered on the Ideas screen: tasteful, for adults, none explicit.
THEMES: tuple[str, ...] = (
    "slow-burn romance",
    "adventure",
    "mystery",
    "cozy evening in",
    "travel",
    "fantasy",
    "science fiction",
    "playful rivalry",
    "reunion",
    "a night out",
    "historical",
    "comedy",
    "first date",
    "teamwork under pressure",
)

IDEAS_SAMPLING = Sampling(temperature=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.15, max_tokens=260)
IDEAS_STOP = ("\n\n", "\nThemes:", "\nScene ideas:", "\nStory ideas:", "\nStory prompts")

_NUMBER_WORDS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
_ITEM = re.compile(r"^\s*(?:\d{1,2}\s*[.)]|[-*•])\s*(.*)$")
_HEADER = re.compile(r"^[A-Z][\w ]{0,30}:\s*$|^[A-Z][\w ]{0,20}:\s")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*$")
_SENTENCE = re.compile(r"[.!?…][\"'”’)]*(?=\s|$)")
_WORDS = re.compile(r"[^\W_]+")


class IdeasError(CandlelitError):
    """Ideas could not be generated, read or saved; ``str()`` is one line."""


class IdeasCancelled(IdeasError):
    """Generation was stopped before it finished."""


# --------------------------------------------------------------------------
# prompt templates (shared with tui.core.scene.rehearsal)


def join_names(names: Sequence[str]) -> str:
    """``"Alex"``, ``"Alex and Sam"``, ``"Alex, Sam and Kai"``."""
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------
# the prompt and its answer


def _one_line(text: str) -> str:
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def build_ideas_prompt(
    themes: Sequence[str], personas: Sequence[Any], *, count: int = DEFAULT_COUNT, template: str | None = None
) -> str:
    """The ideas prompt for these themes and people.

    ``personas`` are ``PersonaProfile``s (anything with ``name``,
    ``description``, ``hard_limits``, ``soft_limits``): their names, their
    descriptions and the union of their boundaries go into the prompt.
    """
    people = [p for p in personas if getattr(p, "name", "")]
    if not people:
        raise IdeasError("choose at least one persona")
    about = "\n".join(
        f"About {p.name}: {_one_line(p.description)}" for p in people if _one_line(getattr(p, "description", ""))
    )
    picked = [_one_line(t) for t in themes if _one_line(t)]
    values = {
        "people": join_names([p.name for p in people]),
        "about": about,
        "themes": ", ".join(picked) or "anything warm and surprising",
        "boundaries": boundaries_text(people),
        "count": _NUMBER_WORDS.get(count, str(count)),
    }
    return templates.fill(template if template is not None else templates.load("ideas"), values)


def _clean(item: str) -> str:
    text = _one_line(item).replace("**", "").replace("__", "")
    text = text.strip(" -*•\"“”'")
    if len(text) > MAX_IDEA:
        cut = text[:MAX_IDEA]
        ends = list(_SENTENCE.finditer(cut))
        text = cut[: ends[-1].end()] if ends else cut.rstrip() + "…"
    return text


def idea_key(text: str) -> str:
    """Comparison key: case, spacing and punctuation do not matter."""
    return " ".join(_WORDS.findall(text.casefold()))


def parse_ideas(
    text: str,
    *,
    first_implied: bool = True,
    truncated: bool = False,
    exclude: Sequence[str] = (),
    limit: int = MAX_IDEAS,
) -> list[str]:
    """The ideas in the model's numbered list, cleaned, in order.

    ``first_implied``: the prompt ended with ``1.``, so the text starts inside
    the first item. An item may run over several lines; a blank line closes
    it; after a blank line anything but a new item ends the list, and so does
    a header such as ``Couple:``. With ``truncated`` (the token limit cut the
    answer) a last item that does not end a sentence is dropped. Repeats and
    the ideas in ``exclude`` (the template's examples) are left out, as are
    lines too short to be an idea.
    """
    items: list[list[str]] = []
    current: list[str] | None = [] if first_implied else None
    closed = False  # a blank line closed the last item
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            if current is not None and any(current):
                items.append(current)
                current = None
            closed = True
            continue
        m = _ITEM.match(line)
        if m:
            if current is not None and any(current):
                items.append(current)
            current = [m.group(1)]
            closed = False
            continue
        if _HEADER.match(line) or closed or current is None:
            break  # the list has ended
        current.append(line)
    ended_cleanly = current is None
    if current is not None and any(current):
        items.append(current)
    seen = {idea_key(e) for e in exclude}
    out: list[str] = []
    for i, parts in enumerate(items):
        idea = _clean(" ".join(parts))
        if truncated and i == len(items) - 1 and not ended_cleanly and not _SENTENCE_END.search(idea):
            continue
        key = idea_key(idea)
        if len(idea) < MIN_IDEA or len(key.split()) < 3 or key in seen:
            continue
        seen.add(key)
        out.append(idea)
        if len(out) >= limit:
            break
    return out


def crosses_limits(idea: str, personas: Sequence[Any]) -> str | None:
    """The first hard limit (of any persona) that ``idea`` names in so many
    words, or None. A safety net: the prompt already states the limits."""
    words = f" {idea_key(idea)} "
    for p in personas:
        for limit in getattr(p, "hard_limits", ()):
            key = idea_key(limit)
            if key and f" {key} " in words:
                return limit
    return None


def template_examples(template: str) -> list[str]:
    """The numbered example ideas written in a template (never offered as ideas)."""
    return [m.group(1).strip() for m in map(_ITEM.match, template.split("\n")) if m and m.group(1).strip()]


def generate_ideas(
    engine: Engine,
    themes: Sequence[str],
    personas: Sequence[Any],
    *,
    sampling: Sampling | None = None,
    cancel: threading.Event | None = None,
    count: int = DEFAULT_COUNT,
    template: str | None = None,
) -> list[str]:
    """Ask the model for scene ideas (blocking: run it off the UI thread).

    Returns at least one idea or raises ``IdeasError`` (``IdeasCancelled``
    when ``cancel`` was set). Ideas naming a hard limit are dropped.
    """
    tmpl = template if template is not None else templates.load("ideas")
    count = max(1, min(count, MAX_IDEAS))
    prompt = build_ideas_prompt(themes, personas, count=count, template=tmpl)
    sampling = sampling or IDEAS_SAMPLING
    try:
        tokens = engine.tokenize(prompt, add_bos=True)
        n_ctx = engine.info.n_ctx
        if len(tokens) + min(sampling.max_tokens, 64) >= n_ctx:
            raise IdeasError(
                f"the ideas prompt needs {len(tokens)} tokens but the context holds {n_ctx}; "
                "shorten the personas' descriptions"
            )
        # the item after the last one asked for ends the list early
        request = GenerationRequest(tokens, sampling, stop=[*IDEAS_STOP, f"\n{count + 1}."])
        fin: Finished | None = None
        for ev in engine.stream(request, cancel):
            if isinstance(ev, Finished):
                fin = ev
    except EngineError as exc:
        raise IdeasError(f"no ideas: {exc}") from None
    if fin is None or fin.reason == "cancelled" or (cancel is not None and cancel.is_set()):
        raise IdeasCancelled("stopped; no ideas were written")
    ideas = parse_ideas(
        fin.text,
        truncated=fin.reason == "length",
        exclude=template_examples(tmpl),
        limit=MAX_IDEAS,
    )
    ideas = [i for i in ideas if crosses_limits(i, personas) is None][:count]
    if not ideas:
        raise IdeasError("the model wrote no usable ideas this time; try again or choose other themes")
    return ideas


# --------------------------------------------------------------------------
# the saved list (ideas.toml in the profile folder)


@dataclass(frozen=True)
class SavedIdea:
    text: str
    themes: tuple[str, ...] = field(default=())
    created: str = ""


def ideas_path(profile_dir: Path) -> Path:
    return as_path(profile_dir) / IDEAS_FILE


def load_ideas(profile_dir: Path) -> list[SavedIdea]:
    """The saved ideas, oldest first; none when ideas.toml does not exist."""
    path = ideas_path(profile_dir)
    if not path.exists():
        return []
    try:
        data = upgrade(read_toml(path, "ideas.toml"), {}, IDEAS_VERSION, "ideas.toml")
    except StoreError as exc:
        raise IdeasError(str(exc)) from None
    raw = data.get("ideas", [])
    if not isinstance(raw, list):
        raise IdeasError("ideas.toml: 'ideas' must be a list of tables")
    out: list[SavedIdea] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            continue  # an unreadable entry is skipped, never fatal
        themes = item.get("themes", [])
        themes = tuple(t for t in themes if isinstance(t, str)) if isinstance(themes, list) else ()
        created = item.get("created", "")
        out.append(SavedIdea(item["text"].strip(), themes, created if isinstance(created, str) else ""))
    return out


def _write(profile_dir: Path, ideas: Sequence[SavedIdea]) -> None:
    data = {
        "version": IDEAS_VERSION,
        "ideas": [{"text": i.text, "themes": list(i.themes), "created": i.created} for i in ideas],
    }
    atomic_write(ideas_path(profile_dir), tomli_w.dumps(data))


def save_idea(profile_dir: Path, text: str, themes: Sequence[str] = ()) -> list[SavedIdea]:
    """Add an idea to the saved list (a repeat is not added twice); returns the list."""
    clean = _clean(text)
    if len(clean) < 3:
        raise IdeasError("an idea cannot be empty")
    ideas = load_ideas(profile_dir)
    if any(idea_key(i.text) == idea_key(clean) for i in ideas):
        return ideas
    if len(ideas) >= MAX_SAVED:
        raise IdeasError(f"the saved list is full ({MAX_SAVED} ideas); remove some first")
    ideas.append(SavedIdea(clean, tuple(_one_line(t) for t in themes if _one_line(t)), utc_now()))
    _write(profile_dir, ideas)
    return ideas


def remove_idea(profile_dir: Path, text: str) -> list[SavedIdea]:
    """Remove a saved idea (matched like ``idea_key``); returns the list."""
    ideas = load_ideas(profile_dir)
    kept = [i for i in ideas if idea_key(i.text) != idea_key(text)]
    if len(kept) == len(ideas):
        raise IdeasError("that idea is not in the saved list")
    _write(profile_dir, kept)
    return kept


# --------------------------------------------------------------------------
# starting a scene


def new_scene_chat(
    ws: Any,
    slugs: Sequence[str],
    personas: Sequence[str] = (),
    title: str = "",
    *,
    narrator: bool = False,
    settings: SceneSettings | None = None,
    opening: str = "",
) -> ChatInfo:
    """A new chat with these characters and personas (``ws``: a Workspace).

    ``settings``: the scene's turn policy and signal words. With ``opening``
    (an idea) the chat holds only that line, as a system message spoken by
    "Scene", so the idea sets the scene; otherwise it starts with the first
    card's greeting as usual.
    """
    slugs = list(dict.fromkeys(slugs))
    if not slugs:
        raise IdeasError("choose at least one character")
    names = list(dict.fromkeys(personas))
    params = inspect.signature(ws.new_chat).parameters
    if "personas" in params:
        kwargs: dict[str, Any] = {}
        if names:
            kwargs["personas"] = names
        if narrator and "narrator" in params:
            kwargs["narrator"] = True
        if settings is not None and "settings" in params:
            kwargs["settings"] = settings
        info = ws.new_chat(slugs if len(slugs) > 1 else slugs[0], title, **kwargs)
    elif len(slugs) == 1 and len(names) <= 1:
        info = ws.new_chat(slugs[0], title)
    else:  # a Workspace without group chats: record who takes part all the same
        first = ws.card(slugs[0])
        who = names or [ws.persona().name]
        info = ws.store.new_chat(slugs, who, title or first.card.display_name)
        greeting = first.card.first_mes.strip()
        if greeting:
            text = expand(greeting, {"char": first.card.display_name, "user": who[0]})
            ws.store.append(info.id, Message.new(first.card.display_name, "assistant", text))
    text = _one_line(opening)
    if text:
        line = Message.new("Scene", "system", f"Scene: {text}")
        line.extra["idea"] = True
        ws.store.replace_messages(info.id, [line])
    return info
