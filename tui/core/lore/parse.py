"""Reading lorebooks: V2/V3 ``character_book``, ``lorebook_v3`` and SillyTavern world info into one ``Lorebook``.

Each entry remembers the raw values it was read from, so writing it back is lossless;
see docs/ARCHITECTURE.md (lore).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from tui.core.cards.card import describe_value
from tui.core.lore.book import (
    DEFAULT_INSERTION_ORDER,
    POSITIONS,
    SELECTIVE_LOGIC,
    SPEC_LOREBOOK_V3,
    Lorebook,
    LoreEntry,
    LoreError,
    SelectiveLogic,
    SourceFormat,
)

# SillyTavern's field names that the ``character_book`` form keeps in
# ``extensions`` under another name (SillyTavern's own export does the same).
_ST_EXTENSION_NAMES = {
    "selectiveLogic": "selectiveLogic",
    "useProbability": "useProbability",
    "displayIndex": "display_index",
}
_ST_ENTRY_MARKS = frozenset(("key", "keysecondary", "uid", "order", "disable"))


# --------------------------------------------------------------------------
# Reading values


_describe = describe_value  # one wording for JSON types in every error message


class _Reader:
    """Reads and checks the fields of one JSON object, remembering raw values."""

    def __init__(self, obj: dict[str, Any], where: str, labels: Mapping[str, str] | None = None):
        self.obj = obj
        self.where = where
        self.labels = labels or {}
        self.read: dict[str, tuple[Any, Any]] = {}

    def fail(self, key: str, expected: str, value: Any) -> LoreError:
        name = self.labels.get(key, key)
        return LoreError(f"{self.where}: field '{name}' must be {expected}, got {_describe(value)}")

    def _keep(self, key: str, value: Any) -> Any:
        self.read[key] = (copy.deepcopy(value), copy.deepcopy(self.obj[key]))
        return value

    def text(self, key: str, default: str | None) -> str | None:
        if key not in self.obj:
            return default
        raw = self.obj[key]
        if raw is None:
            value = default
        elif isinstance(raw, str):
            value = raw
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value = str(raw)
        else:
            raise self.fail(key, "text", raw)
        return self._keep(key, value)

    def texts(self, key: str) -> list[str]:
        if key not in self.obj:
            return []
        raw = self.obj[key]
        if raw is None:
            value: list[str] = []
        elif isinstance(raw, str):
            value = [k.strip() for k in raw.split(",") if k.strip()]  # "a, b" (older exports)
        elif isinstance(raw, list):
            value = []
            for item in raw:
                if isinstance(item, str):
                    value.append(item)
                elif isinstance(item, (int, float)) and not isinstance(item, bool):
                    value.append(str(item))
                else:
                    raise LoreError(f"{self.where}: field '{self.labels.get(key, key)}' must be "
                                    f"a list of text, found {_describe(item)} in it")
        else:
            raise self.fail(key, "a list of text", raw)
        return self._keep(key, value)

    def flag(self, key: str, default: bool | None) -> bool | None:
        if key not in self.obj:
            return default
        raw = self.obj[key]
        if raw is None:
            value = default
        elif isinstance(raw, bool):
            value = raw
        elif raw in (0, 1) and isinstance(raw, int):
            value = bool(raw)
        elif isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            value = raw.strip().lower() == "true"
        else:
            raise self.fail(key, "true or false", raw)
        return self._keep(key, value)

    def number(self, key: str, default: int | float | None, *, whole: bool = False) -> Any:
        if key not in self.obj:
            return default
        raw = self.obj[key]
        if raw is None:
            value = default
        else:
            value = as_number(raw)
            if value is None:
                raise self.fail(key, "a number", raw)
            if whole:
                value = int(value)
        return self._keep(key, value)

    def obj_field(self, key: str) -> dict[str, Any]:
        if key not in self.obj:
            return {}
        raw = self.obj[key]
        if raw is not None and not isinstance(raw, dict):
            raise self.fail(key, "an object", raw)
        return self._keep(key, copy.deepcopy(raw or {}))


def as_number(raw: Any) -> int | float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if raw == raw and abs(raw) != float("inf") else None
    if isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            return None
        if number != number or abs(number) == float("inf"):
            return None
        return int(number) if number.is_integer() else number
    return None


def _ext_flag(ext: Mapping[str, Any], key: str) -> bool | None:
    value = ext.get(key)
    return value if isinstance(value, bool) else None


def _ext_depth(ext: Mapping[str, Any]) -> int | None:
    value = as_number(ext.get("scan_depth"))
    return None if value is None or value < 0 else int(value)


def _ext_logic(ext: Mapping[str, Any]) -> SelectiveLogic:
    value = as_number(ext.get("selectiveLogic"))
    if isinstance(value, int) and 0 <= value < len(SELECTIVE_LOGIC):
        return SELECTIVE_LOGIC[value]
    return "and_any"


# --------------------------------------------------------------------------
# Parsing


_ENTRY_FIELDS = frozenset((
    "keys", "content", "extensions", "enabled", "insertion_order", "case_sensitive",
    "use_regex", "constant", "name", "priority", "id", "comment", "selective",
    "secondary_keys", "position",
))
_BOOK_FIELDS = frozenset((
    "name", "description", "scan_depth", "token_budget", "recursive_scanning",
    "extensions", "entries",
))
# Fields derived from ``extensions`` (attribute, extensions key).
DERIVED = (
    ("selective_logic", "selectiveLogic"),
    ("whole_words", "match_whole_words"),
    ("scan_depth", "scan_depth"),
    ("exclude_recursion", "exclude_recursion"),
    ("prevent_recursion", "prevent_recursion"),
)


def _entry_from_dict(
    obj: Any, where: str, labels: Mapping[str, str] | None = None
) -> LoreEntry:
    if not isinstance(obj, dict):
        raise LoreError(f"{where} must be an object, got {_describe(obj)}")
    hint = obj.get("comment") or obj.get("name")
    if isinstance(hint, str) and hint.strip():
        short = " ".join(hint.split())[:40]
        where = f"{where} ({short!r})"
    r = _Reader(obj, where, labels)
    entry = LoreEntry()
    entry.keys = r.texts("keys")
    entry.secondary_keys = r.texts("secondary_keys")
    entry.content = r.text("content", "") or ""
    entry.enabled = bool(r.flag("enabled", True))
    entry.insertion_order = r.number("insertion_order", DEFAULT_INSERTION_ORDER)
    entry.case_sensitive = r.flag("case_sensitive", None)
    entry.selective = bool(r.flag("selective", False))
    entry.constant = bool(r.flag("constant", False))
    entry.priority = r.number("priority", None)
    entry.use_regex = bool(r.flag("use_regex", False))
    entry.name = r.text("name", None)
    entry.comment = r.text("comment", None)
    if "id" in obj:
        raw_id = obj["id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str, type(None))):
            raise r.fail("id", "a number or text", raw_id)
        entry.id = r._keep("id", raw_id)
    position = r.text("position", "before_char")
    if position not in POSITIONS:
        raise LoreError(f"{where}: field 'position' must be 'before_char' or 'after_char', "
                        f"got {str(position)[:40]!r}")
    entry.position = position
    entry.extensions = copy.deepcopy(r.obj_field("extensions"))
    ext = entry.extensions
    entry.selective_logic = _ext_logic(ext)
    entry.whole_words = _ext_flag(ext, "match_whole_words")
    entry.scan_depth = _ext_depth(ext)
    entry.exclude_recursion = bool(_ext_flag(ext, "exclude_recursion"))
    entry.prevent_recursion = bool(_ext_flag(ext, "prevent_recursion"))
    if entry.case_sensitive is None and _ext_flag(ext, "case_sensitive") is not None:
        entry.case_sensitive = _ext_flag(ext, "case_sensitive")  # SillyTavern keeps it there
        r.read["ext:case_sensitive"] = (entry.case_sensitive, None)
    for attr, _key in DERIVED:
        r.read[f"ext:{attr}"] = (getattr(entry, attr), None)
    entry.extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in _ENTRY_FIELDS}
    entry._read = r.read
    entry._order = tuple(obj)
    return entry


def _book_from_data(data: dict[str, Any], source: str, fmt: SourceFormat) -> Lorebook:
    r = _Reader(data, source)
    book = Lorebook(source_format=fmt)
    book.name = r.text("name", None)
    book.description = r.text("description", None)
    depth = r.number("scan_depth", None, whole=True)
    book.scan_depth = None if depth is None else max(0, depth)
    budget = r.number("token_budget", None, whole=True)
    book.token_budget = None if budget is None else budget
    book.recursive_scanning = r.flag("recursive_scanning", None)
    book.extensions = copy.deepcopy(r.obj_field("extensions"))
    if "entries" not in data:
        raise LoreError(f"{source}: not a lorebook (no 'entries')")
    entries = data["entries"]
    if not isinstance(entries, list):
        raise r.fail("entries", "a list", entries)
    book.entries = []
    for i, raw in enumerate(entries):
        where = f"{source}: entry {i + 1}"
        if isinstance(raw, dict) and "keys" not in raw and _ST_ENTRY_MARKS & raw.keys():
            book.entries.append(_entry_from_dict(_st_entry(raw, str(i), where), where, _ST_LABELS))
        else:
            book.entries.append(_entry_from_dict(raw, where))
    book.extra = {k: copy.deepcopy(v) for k, v in data.items() if k not in _BOOK_FIELDS}
    book._read = r.read
    book._order = tuple(data)
    return book


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


_ST_LABELS = {
    "keys": "key", "secondary_keys": "keysecondary", "insertion_order": "order",
    "enabled": "disable", "id": "uid",
}
_ST_HANDLED = frozenset((
    "uid", "key", "keysecondary", "comment", "content", "constant", "selective", "order",
    "disable", "position", "extensions",
))


def _st_entry(obj: Any, slot: str, where: str) -> dict[str, Any]:
    """One SillyTavern entry in the ``character_book`` form SillyTavern exports."""
    if not isinstance(obj, dict):
        raise LoreError(f"{where} must be an object, got {_describe(obj)}")
    out: dict[str, Any] = {}
    uid = obj.get("uid")
    if uid is None and slot.isdigit():
        uid = int(slot)
    if uid is not None:
        out["id"] = uid
    out["keys"] = copy.deepcopy(obj.get("key", []))
    out["secondary_keys"] = copy.deepcopy(obj.get("keysecondary", []))
    out["comment"] = obj.get("comment", "")
    out["content"] = obj.get("content", "")
    out["constant"] = obj.get("constant", False)
    out["selective"] = True if obj.get("selective") is None else obj["selective"]
    out["insertion_order"] = obj.get("order", DEFAULT_INSERTION_ORDER)
    disable = obj.get("disable", False)
    if not isinstance(disable, bool) and disable is not None:
        raise LoreError(f"{where}: field 'disable' must be true or false, got {_describe(disable)}")
    out["enabled"] = not disable
    position = obj.get("position", 0)
    out["position"] = "before_char" if position in (0, None, "0", "before_char") else "after_char"
    out["use_regex"] = True
    ext_in = obj.get("extensions")
    if ext_in is not None and not isinstance(ext_in, dict):
        raise LoreError(f"{where}: field 'extensions' must be an object, got {_describe(ext_in)}")
    ext: dict[str, Any] = copy.deepcopy(ext_in or {})
    ext["position"] = position
    for key, value in obj.items():
        if key not in _ST_HANDLED:
            ext[_ST_EXTENSION_NAMES.get(key, _snake(key))] = copy.deepcopy(value)
    out["extensions"] = ext
    return out


def _book_from_st(obj: dict[str, Any], source: str, default_name: str | None) -> Lorebook:
    entries = obj["entries"]
    converted = []
    for slot, raw in entries.items():
        where = f"{source}: entry {slot}"
        converted.append((where, _st_entry(raw, str(slot), where)))
    book = Lorebook(source_format="sillytavern")
    name = obj.get("name")
    book.name = name if isinstance(name, str) and name.strip() else default_name
    book.entries = [_entry_from_dict(e, where, _ST_LABELS) for where, e in converted]
    book.top_extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("entries", "name")}
    return book


def parse_book(obj: Any, source: str = "<lorebook>", default_name: str | None = None) -> Lorebook:
    """Normalize a ``character_book``, a ``lorebook_v3`` file or SillyTavern
    world info; raise :class:`LoreError` (one line, naming ``source``).

    The shapes: a card's ``character_book`` (card spec V2/V3); a standalone
    ``{"spec": "lorebook_v3", "data": <character_book>}``; SillyTavern world
    info ``{"entries": {"0": {"key": [...], ...}}}``, converted the way
    SillyTavern embeds one in a card (its own fields go to the entry's
    ``extensions``, e.g. ``extensions.selectiveLogic``)."""
    if not isinstance(obj, dict):
        raise LoreError(f"{source}: a lorebook must be a JSON object, got {_describe(obj)}")
    spec = obj.get("spec")
    if spec is not None:
        if spec in ("chara_card_v2", "chara_card_v3"):
            raise LoreError(f"{source}: this is a character card, not a lorebook "
                            "(import it as a character; its lorebook comes with it)")
        if spec != SPEC_LOREBOOK_V3:
            raise LoreError(f"{source}: unsupported lorebook format {spec!r} "
                            f"(expected {SPEC_LOREBOOK_V3}, a character_book or SillyTavern world info)")
    if spec == SPEC_LOREBOOK_V3 or ("entries" not in obj and isinstance(obj.get("data"), dict)):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise LoreError(f"{source}: field 'data' must be an object, got {_describe(data)}")
        book = _book_from_data(data, source, "lorebook_v3")
        book.top_extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "data")}
    elif isinstance(obj.get("entries"), dict):
        book = _book_from_st(obj, source, default_name)
    elif "entries" in obj:
        book = _book_from_data(obj, source, "character_book")
    else:
        raise LoreError(f"{source}: not a lorebook (no 'entries')")
    return book
