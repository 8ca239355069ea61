"""Human personas of one profile, stored in ``profile.toml``: a name, a
description, hard and soft limits.

See docs/ARCHITECTURE.md#scenes-cards-profiles for the on-disk form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.core.errors import CandlelitError
from tui.core.storage.store import Store

MAX_NAME = 64
MAX_DESCRIPTION = 2000
MAX_LIMIT = 200
MAX_LIMITS = 50

DEFAULT_NAME = "You"


class PersonaError(CandlelitError):
    """A persona that cannot be stored or found; ``str()`` is one line."""


# --------------------------------------------------------------------------
# validation


def check_persona_name(name: object) -> str:
    """The name with surrounding and repeated spaces removed, or ``PersonaError``.

    A name prefixes transcript lines ("Alex: ...") and stop strings, so it
    must be one line, without ``:`` and at most ``MAX_NAME`` characters.
    """
    if not isinstance(name, str):
        raise PersonaError("a persona name must be text")
    if "\n" in name or "\r" in name:
        raise PersonaError("a persona name must be on one line")
    if any(not ch.isprintable() and not ch.isspace() for ch in name):
        raise PersonaError("a persona name cannot contain control characters")
    clean = " ".join(name.split())
    if not clean:
        raise PersonaError("a persona needs a name")
    if ":" in clean:
        raise PersonaError(
            f"persona name {clean!r} cannot contain ':' (names start transcript lines)"
        )
    if len(clean) > MAX_NAME:
        raise PersonaError(
            f"persona name is too long ({len(clean)} characters; at most {MAX_NAME})"
        )
    return clean


def _check_limits(value: object, what: str) -> tuple[str, ...]:
    """One-line, non-empty, de-duplicated (case-insensitively) limit texts."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise PersonaError(f"{what} must be a list of short texts")
    out: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise PersonaError(f"{what} must be a list of short texts")
        clean = " ".join("".join(ch if ch.isprintable() else " " for ch in item).split())
        if not clean:
            continue
        if len(clean) > MAX_LIMIT:
            raise PersonaError(
                f"a {what[:-1].replace('_', ' ')} is too long ({len(clean)} characters; at most {MAX_LIMIT})"
            )
        key = clean.casefold()
        if key not in seen:
            seen.add(key)
            out.append(clean)
    if len(out) > MAX_LIMITS:
        raise PersonaError(f"too many {what.replace('_', ' ')} ({len(out)}; at most {MAX_LIMITS})")
    return tuple(out)


@dataclass(frozen=True)
class PersonaProfile:
    """One human participant. Construction validates and normalizes:
    the name is cleaned (see ``check_persona_name``), limits become tuples of
    one-line texts without empty entries or case-insensitive duplicates."""

    name: str
    description: str = ""
    hard_limits: tuple[str, ...] = field(default=())
    soft_limits: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_persona_name(self.name))
        if not isinstance(self.description, str):
            raise PersonaError(f"the description of {self.name!r} must be text")
        description = self.description.strip()
        if len(description) > MAX_DESCRIPTION:
            raise PersonaError(
                f"the description of {self.name!r} is too long "
                f"({len(description)} characters; at most {MAX_DESCRIPTION})"
            )
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "hard_limits", _check_limits(self.hard_limits, "hard_limits"))
        object.__setattr__(self, "soft_limits", _check_limits(self.soft_limits, "soft_limits"))

    def to_toml(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "hard_limits": list(self.hard_limits),
            "soft_limits": list(self.soft_limits),
        }

    @classmethod
    def from_toml(cls, table: object, where: str = "profile.toml") -> PersonaProfile:
        if not isinstance(table, dict):
            raise PersonaError(f"{where}: each persona must be a table")
        try:
            return cls(
                table.get("name", ""),
                table.get("description", ""),
                table.get("hard_limits", ()),
                table.get("soft_limits", ()),
            )
        except PersonaError as exc:
            raise PersonaError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------
# reading and writing the profile


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _from_profile(data: dict) -> list[PersonaProfile]:
    """The personas a loaded profile dict describes."""
    out: list[PersonaProfile] = []
    raw = data.get("personas")
    if raw is not None:
        if not isinstance(raw, list):
            raise PersonaError("profile.toml: 'personas' must be a list of tables")
        for i, table in enumerate(raw, 1):
            p = PersonaProfile.from_toml(table, f"profile.toml persona {i}")
            if any(_key(q.name) == _key(p.name) for q in out):
                raise PersonaError(
                    f"profile.toml lists the persona {p.name!r} twice; remove one"
                )
            out.append(p)
    if out:
        return out
    legacy = data.get("persona")
    if isinstance(legacy, dict):  # a profile from before personas
        table = {"name": legacy.get("name") or DEFAULT_NAME, "description": legacy.get("description", "")}
        return [PersonaProfile.from_toml(table, "profile.toml [persona]")]
    return [PersonaProfile(DEFAULT_NAME)]


def _load(store: Store, default_name: str) -> tuple[dict, list[PersonaProfile]]:
    """The profile dict (created with defaults if missing) and its personas."""
    data = store.load_profile({"name": check_persona_name(default_name)})
    return data, _from_profile(data)


def _save(store: Store, data: dict, personas: Sequence[PersonaProfile]) -> None:
    if not personas:
        raise PersonaError("a profile needs at least one persona")
    first = personas[0]
    found = data.get("persona")
    legacy = found if isinstance(found, dict) else {}
    data["persona"] = {**legacy, "name": first.name, "description": first.description}
    data["personas"] = [p.to_toml() for p in personas]
    store.save_profile(data)


def _index(personas: Sequence[PersonaProfile], name: str) -> int:
    key = _key(name) if isinstance(name, str) else ""
    for i, p in enumerate(personas):
        if _key(p.name) == key:
            return i
    known = ", ".join(p.name for p in personas)
    raise PersonaError(f"no persona named {name!r} (personas: {known})")


def list_personas(store: Store, default_name: str = DEFAULT_NAME) -> list[PersonaProfile]:
    """Every persona of the profile, the default (first) one first.

    A profile without profile.toml has one persona, ``default_name``; reading
    does not create the file.
    """
    if not store.profile_file.exists():
        return [PersonaProfile(default_name)]
    return _load(store, default_name)[1]


def get_persona(store: Store, name: str, default_name: str = DEFAULT_NAME) -> PersonaProfile:
    """The persona called ``name`` (case-insensitive), or ``PersonaError``."""
    personas = list_personas(store, default_name)
    return personas[_index(personas, name)]


def add_persona(store: Store, persona: PersonaProfile, default_name: str = DEFAULT_NAME) -> None:
    """Append ``persona``; ``PersonaError`` if the name is taken (any case)."""
    with store._lock:  # one read-modify-write at a time (an RLock)
        data, personas = _load(store, default_name)
        if any(_key(p.name) == _key(persona.name) for p in personas):
            raise PersonaError(f"a persona named {persona.name!r} already exists")
        _save(store, data, [*personas, persona])


def update_persona(
    store: Store,
    persona: PersonaProfile,
    old_name: str | None = None,
    default_name: str = DEFAULT_NAME,
) -> None:
    """Replace the persona called ``old_name`` (default: ``persona.name``)
    with ``persona``, keeping its place. Giving ``old_name`` renames; the new
    name must not belong to another persona."""
    with store._lock:
        data, personas = _load(store, default_name)
        i = _index(personas, persona.name if old_name is None else old_name)
        if any(j != i and _key(p.name) == _key(persona.name) for j, p in enumerate(personas)):
            raise PersonaError(f"a persona named {persona.name!r} already exists")
        personas[i] = persona
        _save(store, data, personas)


def remove_persona(store: Store, name: str, default_name: str = DEFAULT_NAME) -> PersonaProfile:
    """Remove and return the persona called ``name``. The last persona
    cannot be removed (a profile always has someone typing)."""
    with store._lock:
        data, personas = _load(store, default_name)
        i = _index(personas, name)
        if len(personas) == 1:
            raise PersonaError(f"cannot remove {personas[0].name!r}: it is the only persona")
        removed = personas.pop(i)
        _save(store, data, personas)
        return removed
