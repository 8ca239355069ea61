"""The normalized character card that everything in Candlelit stores.

``parse_card`` reads V1/V2/V3 JSON into one :class:`Card`; ``card_to_v3`` /
``card_to_v2`` write it back, losing nothing. See docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tui.core.errors import CandlelitError
from tui.core.fsio import as_path, atomic_write

FORMAT_VERSION = 1

SPEC_V2 = "chara_card_v2"
SPEC_V3 = "chara_card_v3"

# Plain text fields shared by V1/V2/V3, in the order we write them.
_TEXT_FIELDS = (
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
# V3-only metadata. A value of the wrong type is not an error: it is kept
# verbatim in ``extra`` (so it still round-trips) and the field stays unset.
_V3_OPTIONAL = (
    "assets", "source", "creator_notes_multilingual", "creation_date", "modification_date",
)
_KNOWN_DATA_KEYS = frozenset(
    ("name", *_TEXT_FIELDS, "alternate_greetings", "tags", "extensions", "character_book",
     "nickname", "group_only_greetings", *_V3_OPTIONAL)
)
_ENVELOPE_KEYS = frozenset(("spec", "spec_version", "data"))


class CardError(CandlelitError):
    """A card that cannot be read; the message is one line naming the source."""


@dataclass
class Card:
    """One character, independent of the format it came in."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    alternate_greetings: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    creator: str = ""
    character_version: str = ""
    nickname: str = ""
    extensions: dict[str, Any] = field(default_factory=dict)
    character_book: dict[str, Any] | None = None
    # V3 additions (None = absent, which the spec distinguishes from empty).
    group_only_greetings: list[str] = field(default_factory=list)
    assets: list[dict[str, Any]] | None = None
    source: list[str] | None = None
    creator_notes_multilingual: dict[str, str] | None = None
    creation_date: int | float | None = None
    modification_date: int | float | None = None
    # Unknown fields inside ``data`` (or anywhere in a V1 card) ...
    extra: dict[str, Any] = field(default_factory=dict)
    # ... and unknown keys beside ``data`` in a V2/V3 envelope.
    top_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.nickname or self.name

    def short_description(self, limit: int = 80) -> str:
        """First sentence (or line) of the description, at most ``limit`` chars."""
        name = self.display_name
        text = re.sub(r"\{\{char\}\}", lambda _m: name, self.description, flags=re.IGNORECASE)
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        line = " ".join(line.split())
        match = re.search(r"[.!?…](?=\s|$)", line)
        sentence = line[: match.end()] if match else line
        if len(sentence) <= limit:
            return sentence
        if limit < 2:
            return sentence[:max(limit, 0)]
        cut = sentence[: limit - 1]
        space = cut.rfind(" ")
        if space > limit // 2:
            cut = cut[:space]
        return cut.rstrip(" ,;:-") + "…"


# --------------------------------------------------------------------------
# Parsing


def describe_value(value: Any) -> str:
    """How a JSON value reads in an error message ("a number", "a list"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_describe = describe_value


def _text(value: Any, key: str, source: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # e.g. "character_version": 2
    raise CardError(f"{source}: field '{key}' must be text, got {_describe(value)}")


def _text_list(value: Any, key: str, source: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        if key == "tags":
            return [t.strip() for t in value.split(",") if t.strip()]
        return [value] if value else []
    if not isinstance(value, list):
        raise CardError(f"{source}: field '{key}' must be a list of text, got {_describe(value)}")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(str(item))
        else:
            raise CardError(
                f"{source}: field '{key}' must be a list of text, found {_describe(item)} in it"
            )
    return out


def _object(value: Any, key: str, source: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CardError(f"{source}: field '{key}' must be an object, got {_describe(value)}")
    return value


def _v3_optional_ok(key: str, value: Any) -> bool:
    if key == "assets":
        return isinstance(value, list) and all(isinstance(a, dict) for a in value)
    if key == "source":
        return isinstance(value, list) and all(isinstance(s, str) for s in value)
    if key == "creator_notes_multilingual":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _from_data(data: dict[str, Any], source: str) -> Card:
    name = data.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        raise CardError(f"{source}: the card has no name")
    if not isinstance(name, str):
        raise CardError(f"{source}: field 'name' must be text, got {_describe(name)}")
    card = Card(name=" ".join(name.split()))
    for key in _TEXT_FIELDS:
        setattr(card, key, _text(data.get(key), key, source))
    card.nickname = _text(data.get("nickname"), "nickname", source).strip()
    for key in ("alternate_greetings", "tags", "group_only_greetings"):
        setattr(card, key, _text_list(data.get(key), key, source))
    card.extensions = _object(data.get("extensions"), "extensions", source) or {}
    card.character_book = _object(data.get("character_book"), "character_book", source)
    extra = {k: v for k, v in data.items() if k not in _KNOWN_DATA_KEYS}
    for key in _V3_OPTIONAL:
        if key not in data or data[key] is None:
            continue
        if _v3_optional_ok(key, data[key]):
            setattr(card, key, data[key])
        else:
            extra[key] = data[key]
    card.extra = extra
    return card


def parse_card(obj: dict[str, Any], source: str = "<card>") -> Card:
    """Normalize a V1, V2 or V3 card object; raise :class:`CardError` if invalid."""
    if not isinstance(obj, dict):
        raise CardError(f"{source}: a card must be a JSON object, got {_describe(obj)}")
    obj = copy.deepcopy(obj)
    spec = obj.get("spec")
    if spec is None:
        if "name" in obj or not isinstance(obj.get("data"), dict):
            return _from_data(obj, source)  # V1: flat, everything is card data
        # An envelope that forgot its "spec": read it like V2/V3.
    elif not isinstance(spec, str):
        raise CardError(f"{source}: field 'spec' must be text, got {_describe(spec)}")
    elif spec not in (SPEC_V2, SPEC_V3):
        raise CardError(
            f"{source}: unsupported card format {spec!r} (expected V1, {SPEC_V2} or {SPEC_V3})"
        )
    data = obj.get("data")
    if not isinstance(data, dict):
        raise CardError(f"{source}: field 'data' must be an object, got {_describe(data)}")
    # Some exporters mirror card fields beside ``data``. ``data`` wins; a
    # mirror only fills a field that ``data`` lacks, and is then dropped.
    for key in _KNOWN_DATA_KEYS:
        if key in obj and key not in data:
            data[key] = obj[key]
    card = _from_data(data, source)
    card.top_extra = {
        k: v for k, v in obj.items()
        if k not in _ENVELOPE_KEYS and k not in _KNOWN_DATA_KEYS
    }
    return card


# --------------------------------------------------------------------------
# Writing


def _common_data(card: Card) -> dict[str, Any]:
    data: dict[str, Any] = {"name": card.name}
    for key in ("description", "personality", "scenario", "first_mes", "mes_example",
                "creator_notes", "system_prompt", "post_history_instructions"):
        data[key] = getattr(card, key)
    data["alternate_greetings"] = list(card.alternate_greetings)
    data["tags"] = list(card.tags)
    data["creator"] = card.creator
    data["character_version"] = card.character_version
    data["extensions"] = copy.deepcopy(card.extensions)
    if card.character_book is not None:
        data["character_book"] = copy.deepcopy(card.character_book)
    return data


def _add_v3_fields(data: dict[str, Any], card: Card, always: bool) -> None:
    if always or card.group_only_greetings:
        data["group_only_greetings"] = list(card.group_only_greetings)
    if card.nickname:
        data["nickname"] = card.nickname
    for key in _V3_OPTIONAL:
        value = getattr(card, key)
        if value is not None:
            data[key] = copy.deepcopy(value)


def _envelope(spec: str, version: str, data: dict[str, Any], card: Card) -> dict[str, Any]:
    for key, value in card.extra.items():
        data.setdefault(key, copy.deepcopy(value))
    out: dict[str, Any] = {"spec": spec, "spec_version": version, "data": data}
    for key, value in card.top_extra.items():
        out.setdefault(key, copy.deepcopy(value))
    return out


def card_to_v3(card: Card) -> dict[str, Any]:
    """The card as a V3 object, unknown fields and extensions included."""
    data = _common_data(card)
    _add_v3_fields(data, card, always=True)
    return _envelope(SPEC_V3, "3.0", data, card)


def card_to_v2(card: Card) -> dict[str, Any]:
    """The card as a V2 object.

    V3-only fields that are set (nickname, group greetings, dates, ...) are
    written into ``data`` as unknown fields, so a V3 card survives V2 and back.
    """
    data = _common_data(card)
    _add_v3_fields(data, card, always=False)
    return _envelope(SPEC_V2, "2.0", data, card)


def card_to_json(card: Card) -> str:
    """The exact text ``save_card_file`` writes: V3 plus ``"version"``, indent 2."""
    v3 = card_to_v3(card)
    obj = {"spec": v3.pop("spec"), "spec_version": v3.pop("spec_version"),
           "version": FORMAT_VERSION, **v3}
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# Files


def _card_from_text(text: str, source: str) -> Card:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise CardError(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # a giant integer
        raise CardError(f"{source}: not valid card JSON ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(obj, dict):
        raise CardError(f"{source}: expected a JSON object, got {_describe(obj)}")
    version = obj.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and "data" in obj:
        if version > FORMAT_VERSION:
            raise CardError(
                f"{source}: written by a newer Candlelit (card format {version}); please upgrade"
            )
        del obj["version"]
    return parse_card(obj, source)


def load_card_file(path: Path) -> Card:
    """Read a JSON card file (V1/V2/V3 or our own); errors name the file."""
    path = as_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CardError(f"{path}: file not found") from None
    except OSError as exc:
        raise CardError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CardError(f"{path}: not a UTF-8 text file") from None
    return _card_from_text(text, str(path))


def save_card_file(path: Path, card: Card) -> None:
    """Write ``card`` as normalized V3 JSON (mode 0600, atomically)."""
    atomic_write(as_path(path), card_to_json(card))


def slugify(name: str) -> str:
    """A file-safe id: lowercase ASCII letters, digits and '-', at most 40 chars."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:40].rstrip("-")
    return slug or "character"


def starter_cards() -> list[tuple[str, Card]]:
    """The bundled characters as ``(slug, Card)``, sorted by slug."""
    folder = resources.files("tui").joinpath("starters")
    found = []
    for entry in folder.iterdir():
        if entry.is_file() and entry.name.endswith(".json"):
            slug = entry.name[: -len(".json")]
            text = entry.read_text(encoding="utf-8")
            found.append((slug, _card_from_text(text, f"starters/{entry.name}")))
    return sorted(found, key=lambda pair: pair[0])
