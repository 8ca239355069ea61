"""Who is who in a SillyTavern chat: its speakers matched to this profile's cards and personas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.core.cards.card import Card
from tui.core.profile.personas import PersonaError, PersonaProfile, list_personas
from tui.core.profile.st_read import ChatFileError, StChat, location
from tui.core.profile.workspace import CardEntry, Workspace


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def clean_name(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def is_user(obj: dict[str, Any]) -> bool:
    return bool(obj.get("is_user"))


def is_hidden(obj: dict[str, Any]) -> bool:
    return bool(obj.get("is_system"))


def line_kind(obj: dict[str, Any]) -> str:
    extra = obj.get("extra")
    return extra.get("type", "") if isinstance(extra, dict) and isinstance(extra.get("type"), str) else ""


def _card_keys(entry: CardEntry) -> set[str]:
    card: Card = entry.card
    return {name_key(k) for k in (card.display_name, card.name, entry.slug) if k}


def _avatar_key(obj: dict[str, Any]) -> str:
    avatar = obj.get("original_avatar")
    if isinstance(avatar, str) and avatar.strip():
        return name_key(Path(avatar.strip()).stem)
    return ""


@dataclass
class Cast:
    characters: list[CardEntry]          # in chat order
    by_name: dict[str, CardEntry]        # name_key(ST name) -> card
    personas: list[str]                  # persona names, in chat order
    user_map: dict[str, str]             # name_key(ST user name) -> persona name
    to_create: list[PersonaProfile]
    group: bool
    warnings: list[str]


def find_cast(
    ws: Workspace, chat: StChat, slugs: Sequence[str] | None, persona: str | None,
) -> Cast:
    """Match the chat's speakers to cards and its people to personas.

    Raises :class:`ChatFileError` (or ``PersonaError``) rather than guess."""
    where = location(chat.path)
    header = chat.header or {}
    warnings: list[str] = []
    header_char = clean_name(header.get("character_name"))
    header_user = clean_name(header.get("user_name"))
    ai_names, avatars = _speaking_characters(chat, header_char)
    if slugs:
        characters, by_name = _given_characters(ws, slugs, ai_names, avatars, where)
    else:
        characters, by_name = _found_characters(ws, ai_names, avatars, where)
    user_names = _people(chat, header_user)
    user_map, to_create = _match_people(ws, user_names, persona, len(characters) > 1, where, warnings)
    personas = list(dict.fromkeys(user_map.values()))
    group = len(characters) > 1 or len(personas) > 1
    if group:
        _check_distinct_names(personas, characters, where)
    return Cast(characters, by_name, personas, user_map, to_create, group, warnings)


def _speaking_characters(chat: StChat, header_char: str) -> tuple[dict[str, str], dict[str, str]]:
    """The characters who speak (visible, not narrator lines), in order of
    appearance, and the avatar each was drawn with: both by name key."""
    ai_names: dict[str, str] = {}
    avatars: dict[str, str] = {}
    for ln in chat.lines:
        o = ln.obj
        if is_user(o) or is_hidden(o) or line_kind(o) == "narrator":
            continue
        name = clean_name(o.get("name")) or header_char
        ai_names.setdefault(name_key(name), name)
        if _avatar_key(o):
            avatars.setdefault(name_key(name), _avatar_key(o))
    if not ai_names and header_char:
        ai_names[name_key(header_char)] = header_char
    return ai_names, avatars


def _find(key: str, pool: Iterable[CardEntry], avatars: dict[str, str]) -> list[CardEntry]:
    """The cards answering to a name key, or else to the avatar it was drawn with."""
    pool = list(pool)
    hits = [e for e in pool if key and key in _card_keys(e)]
    if not hits and avatars.get(key):
        hits = [e for e in pool if avatars[key] in _card_keys(e)]
    return hits


def _given_characters(
    ws: Workspace, slugs: Sequence[str], ai_names: dict[str, str], avatars: dict[str, str], where: str,
) -> tuple[list[CardEntry], dict[str, CardEntry]]:
    """The characters named with --character, each speaker matched to one of them."""
    given: list[CardEntry] = []
    for slug in slugs:
        entry = ws.card(slug)
        if all(e.slug != entry.slug for e in given):
            given.append(entry)
    if len(given) == 1 and len(ai_names) <= 1:
        return given, {key: given[0] for key in ai_names}
    by_name: dict[str, CardEntry] = {}
    for key, name in ai_names.items():
        hits = _find(key, given, avatars)
        if len(hits) != 1:
            listed = ", ".join(e.slug for e in given)
            raise ChatFileError(
                f"{where}: {name or '(no name)'!r} speaks in this chat but is not one of the "
                f"characters given ({listed}); add --character SLUG for them"
            )
        by_name[key] = hits[0]
    return given, by_name


def _found_characters(
    ws: Workspace, ai_names: dict[str, str], avatars: dict[str, str], where: str,
) -> tuple[list[CardEntry], dict[str, CardEntry]]:
    """Each speaker matched to the one card of this profile that answers to their name."""
    if not ai_names:
        raise ChatFileError(f"{where}: no character speaks in this chat; name one with --character SLUG")
    cards = ws.cards()
    by_name: dict[str, CardEntry] = {}
    for key, name in ai_names.items():
        hits = _find(key, cards, avatars)
        if not hits:
            raise ChatFileError(
                f"{where}: no character called {name or '(no name)'!r} in this profile; import their card "
                f"first (candlelit card import), or choose one with --character SLUG"
            )
        if len(hits) > 1:
            raise ChatFileError(
                f"{where}: several characters are called {name!r} ({', '.join(e.slug for e in hits)}); "
                "choose with --character SLUG"
            )
        by_name[key] = hits[0]
    return list({e.slug: e for e in by_name.values()}.values()), by_name


def _people(chat: StChat, header_user: str) -> dict[str, str]:
    """The people's names (user lines), by name key, in order of appearance."""
    user_names: dict[str, str] = {}
    for ln in chat.lines:
        if is_user(ln.obj):
            name = clean_name(ln.obj.get("name")) or header_user
            user_names.setdefault(name_key(name), name)
    if not user_names:
        user_names[name_key(header_user)] = header_user
    return user_names


def _match_people(
    ws: Workspace,
    user_names: dict[str, str],
    persona: str | None,
    several_characters: bool,
    where: str,
    warnings: list[str],
) -> tuple[dict[str, str], list[PersonaProfile]]:
    """Each person's persona (name key -> persona name), and the personas to add
    for a group scene; a name unfit for a persona is written as the default one."""
    default_name = ws.config.chat.user_name
    known = list_personas(ws.store, default_name)
    default_persona = ws.persona().name
    user_map: dict[str, str] = {}
    to_create: list[PersonaProfile] = []
    if persona is not None:
        key = name_key(persona)
        match = next((p for p in known if name_key(p.name) == key), None)
        if match is None:
            raise PersonaError(
                f"no persona named {persona!r} (personas: {', '.join(p.name for p in known)}; "
                "add one with `candlelit persona add NAME`)"
            )
        return {key: match.name for key in user_names}, to_create
    several_people = len(user_names) > 1
    group_likely = several_characters or several_people
    for key, name in user_names.items():
        match = next((p for p in known if name_key(p.name) == key), None)
        if match is not None:
            user_map[key] = match.name
            continue
        if not name:
            user_map[key] = default_persona
            continue
        try:
            profile = PersonaProfile(name)
        except PersonaError as exc:
            warnings.append(f"{where}: {exc}; their lines are written as {default_persona!r}")
            user_map[key] = default_persona
            continue
        if group_likely and all(name_key(p.name) != name_key(profile.name) for p in to_create):
            to_create.append(profile)
        user_map[key] = profile.name
    return user_map, to_create


def _check_distinct_names(personas: list[str], characters: list[CardEntry], where: str) -> None:
    """Every participant of a group scene needs a name of their own."""
    seen: dict[str, str] = {}
    for name in [*personas, *(e.card.display_name for e in characters)]:
        key = name_key(name)
        if key in seen:
            raise ChatFileError(
                f"{where}: a person and a character are both called {name!r}; every participant of a "
                "group scene needs a different name (import with --persona NAME)"
            )
        seen[key] = name
