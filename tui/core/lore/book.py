"""Lorebooks: parsing, lossless writing, and activation against the chat.

A lorebook is a list of entries; an entry's ``content`` joins the prompt when
one of its ``keys`` appears in the recent chat. Three JSON shapes are read
into one :class:`Lorebook`:

- a card's ``character_book`` (character card spec V2/V3);
- a standalone ``{"spec": "lorebook_v3", "data": <character_book>}``;
- SillyTavern world info, ``{"entries": {"0": {"key": [...], ...}}}``,
  converted the way SillyTavern itself embeds one in a card (its own fields
  go to the entry's ``extensions``, e.g. ``extensions.selectiveLogic``).

``book_to_dict`` writes the ``character_book`` form back. Nothing is lost:
unknown fields stay in ``extra``, ``extensions`` are kept verbatim, and a
field that was not edited is written exactly as it was read (a missing field
stays missing, a ``"10"`` stays a string).

Activation (:func:`activate`), with our defaults where a book is silent:

- ``keys`` are looked for in the last ``scan_depth`` messages (book value,
  else ``DEFAULT_SCAN_DEPTH`` = 4, i.e. the last two exchanges; an entry may
  override it with SillyTavern's ``extensions.scan_depth`` or a
  ``@@scan_depth`` decorator). Case-insensitive unless ``case_sensitive``;
  whole words unless ``extensions.match_whole_words`` is false ("cat" does
  not fire on "category"; an edge that is not a letter or digit, or is in a
  script written without spaces such as Chinese, needs no boundary).
- ``selective`` + ``secondary_keys``: the V2 spec's rule is "and any";
  SillyTavern's ``extensions.selectiveLogic`` adds "not all", "not any" and
  "and all". Empty secondary keys mean no condition.
- ``constant`` entries always fire; ``enabled: false`` never does, whatever
  else says so. The V3 decorators ``@@activate``, ``@@dont_activate``,
  ``@@scan_depth``, ``@@additional_keys`` and ``@@exclude_keys`` are honoured
  (with ``@@@`` fallbacks); every leading decorator line is removed from the
  text that goes into the prompt.
- Regex keys. A V3 entry with ``use_regex: true`` treats every key as a
  pattern (case-insensitive unless ``case_sensitive``). SillyTavern marks all
  its exports ``use_regex: true`` but means "a key written ``/pattern/flags``
  is a regex, the rest are words", so an entry carrying SillyTavern's
  extensions uses that rule instead. Patterns run on RE2 (see
  :mod:`tui.core.lore.safe_regex`): a hostile pattern cannot hang the app, and a
  pattern we refuse (or a scan whose regex time allowance is spent) skips
  that key with a warning.
- Budget: each book spends at most ``token_budget`` tokens (book value, else
  ``default_budget``), and all books together at most ``total_budget`` if
  given. Entries are kept by higher ``priority`` first (missing = 0), then
  higher ``insertion_order`` (the V3 spec drops the lowest first); an entry
  that does not fit is dropped and smaller ones may still fit. Direct
  matches are budgeted before entries reached by recursion.
- Recursion, for books with ``recursive_scanning: true`` (off when unset, as
  in SillyTavern): the content of activated entries is scanned again, up to
  ``max_recursion`` rounds. ``extensions.exclude_recursion`` entries cannot
  be reached that way; ``extensions.prevent_recursion`` content does not
  trigger others.
- The result is ordered by ``insertion_order`` (lower = earlier), each entry
  tagged ``before_char``/``after_char``; the prompt puts it in its volatile
  part.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import copy
import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.core.cards.card import describe_value
from tui.core.fsio import as_path, atomic_write, is_sealed
from tui.core.cards.macros import expand
from tui.core.lore.safe_regex import (
    BudgetSpent,
    RegexRejected,
    SafePattern,
    SearchBudget,
    compile_safe,
    compile_slash_regex,
    encode_text,
)

SPEC_LOREBOOK_V3 = "lorebook_v3"
POSITIONS = ("before_char", "after_char")
SELECTIVE_LOGIC = ("and_any", "not_all", "not_any", "and_all")  # SillyTavern's 0..3

DEFAULT_SCAN_DEPTH = 4
DEFAULT_TOKEN_BUDGET = 512
DEFAULT_INSERTION_ORDER = 100
DEFAULT_MAX_RECURSION = 3
MAX_SCAN_DEPTH = 1000
MAX_SCAN_CHARS = 20_000          # newest characters of the chat that are scanned
REGEX_TIME_BUDGET_S = 0.25       # regex time allowance of one activate() call
MAX_FILE_BYTES = 32 * 1024 * 1024

# SillyTavern's field names that the ``character_book`` form keeps in
# ``extensions`` under another name (SillyTavern's own export does the same).
_ST_EXTENSION_NAMES = {
    "selectiveLogic": "selectiveLogic",
    "useProbability": "useProbability",
    "displayIndex": "display_index",
}
# Marks of an entry written by SillyTavern (its export always has them, and
# entry_to_dict never adds them, so editing an entry cannot flip its mode).
_ST_MARKS = ("display_index", "useProbability", "group_override", "vectorized")
_ST_ENTRY_MARKS = frozenset(("key", "keysecondary", "uid", "order", "disable"))


class LoreError(CandlelitError):
    """A lorebook that cannot be read; the message is one line naming the source."""


# --------------------------------------------------------------------------
# Data


@dataclass
class LoreEntry:
    """One lorebook entry, whatever format it came in."""

    keys: list[str] = field(default_factory=list)
    content: str = ""
    secondary_keys: list[str] = field(default_factory=list)
    enabled: bool = True
    insertion_order: int | float = DEFAULT_INSERTION_ORDER
    case_sensitive: bool | None = None        # None: case-insensitive
    whole_words: bool | None = None           # None: whole words (extensions.match_whole_words)
    selective: bool = False
    selective_logic: str = "and_any"          # extensions.selectiveLogic
    constant: bool = False
    priority: int | float | None = None
    position: str = "before_char"
    use_regex: bool = False
    scan_depth: int | None = None             # extensions.scan_depth
    exclude_recursion: bool = False           # extensions.exclude_recursion
    prevent_recursion: bool = False           # extensions.prevent_recursion
    id: int | str | None = None
    name: str | None = None
    comment: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # What was read, so unedited fields are written back exactly as found:
    # field -> (value as parsed, raw JSON value).
    _read: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)
    _order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def label(self) -> str:
        """A short name for messages: name, comment, first key, or ``"entry"``."""
        for text in (self.name, self.comment, *self.keys):
            if isinstance(text, str) and text.strip():
                line = " ".join(text.split())
                return line if len(line) <= 40 else line[:39] + "…"
        return "entry" if self.id is None else f"entry {self.id}"

    @property
    def text(self) -> str:
        """The content that goes into the prompt: decorators removed, trimmed."""
        return _decorators(self.content)[1]

    @property
    def decorators(self) -> dict[str, str]:
        """Recognized V3 decorators at the top of ``content`` (name -> value)."""
        return dict(_decorators(self.content)[0])

    @property
    def regex_mode(self) -> str:
        """``"off"``, ``"slash"`` (only ``/pattern/flags`` keys) or ``"all"``."""
        if any(mark in self.extensions for mark in _ST_MARKS):
            return "slash"
        return "all" if self.use_regex else "off"


@dataclass
class Lorebook:
    """A named list of entries with scan settings."""

    name: str | None = None
    description: str | None = None
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive_scanning: bool | None = None
    entries: list[LoreEntry] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)       # unknown book fields
    top_extra: dict[str, Any] = field(default_factory=dict)   # unknown keys beside "data"
    source_format: str = "character_book"  # | "lorebook_v3" | "sillytavern"
    _read: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)
    _order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def label(self) -> str:
        return " ".join(self.name.split()) if self.name and self.name.strip() else "lorebook"


@dataclass(frozen=True, eq=False)
class Activated:
    """An entry chosen for the prompt, and why."""

    entry: LoreEntry
    book: Lorebook
    reason: str         # "constant", "@@activate", "key 'x'", "recursion: key 'x'", ...
    tokens: int
    round: int = 0      # 0: from the chat; n: n-th recursion round

    @property
    def text(self) -> str:
        return self.entry.text

    @property
    def position(self) -> str:
        return self.entry.position


@dataclass
class LoreResult:
    """What :func:`activate` chose, what it dropped, and what went wrong."""

    activated: list[Activated] = field(default_factory=list)   # by insertion_order
    dropped: list[Activated] = field(default_factory=list)     # matched, over budget
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(a.tokens for a in self.activated)

    def text(self, position: str | None = None) -> str:
        """Activated texts (all, or one position's), one block per entry."""
        return "\n".join(a.text for a in self.activated if position in (None, a.position))


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
            value = _as_number(raw)
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


def _as_number(raw: Any) -> int | float | None:
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
    value = _as_number(ext.get("scan_depth"))
    return None if value is None or value < 0 else int(value)


def _ext_logic(ext: Mapping[str, Any]) -> str:
    value = _as_number(ext.get("selectiveLogic"))
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
_DERIVED = (
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
    for attr, _key in _DERIVED:
        r.read[f"ext:{attr}"] = (getattr(entry, attr), None)
    entry.extra = {k: copy.deepcopy(v) for k, v in obj.items() if k not in _ENTRY_FIELDS}
    entry._read = r.read
    entry._order = tuple(obj)
    return entry


def _book_from_data(data: dict[str, Any], source: str, fmt: str) -> Lorebook:
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
    world info; raise :class:`LoreError` (one line, naming ``source``)."""
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


# --------------------------------------------------------------------------
# Writing


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _put(out: dict[str, Any], read: Mapping[str, tuple[Any, Any]], key: str, value: Any,
         *, default: Any = None, always: bool = False) -> None:
    if key in read:
        parsed, raw = read[key]
        out[key] = copy.deepcopy(raw) if _same(value, parsed) else copy.deepcopy(value)
    elif always or not _same(value, default):
        out[key] = copy.deepcopy(value)


def _ordered(out: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    result = {k: out[k] for k in order if k in out}
    result.update((k, v) for k, v in out.items() if k not in result)
    return result


def entry_to_dict(entry: LoreEntry) -> dict[str, Any]:
    """The entry in ``character_book`` form; unedited fields come back verbatim."""
    read = entry._read
    new = not entry._order  # built in code: write every field the V3 spec requires
    out: dict[str, Any] = {}
    _put(out, read, "keys", list(entry.keys), default=[], always=new)
    _put(out, read, "content", entry.content, default="", always=new)
    ext = copy.deepcopy(entry.extensions)
    for attr, key in _DERIVED:
        value = getattr(entry, attr)
        parsed = read.get(f"ext:{attr}", (LoreEntry.__dataclass_fields__[attr].default, None))[0]
        if not _same(value, parsed):
            if attr == "selective_logic":
                ext[key] = SELECTIVE_LOGIC.index(value) if value in SELECTIVE_LOGIC else 0
            else:
                ext[key] = value
    # SillyTavern keeps case_sensitive in extensions: it stays there, and the
    # top-level field is written as read unless the user changed the value.
    top_case = entry.case_sensitive
    if "ext:case_sensitive" in read:
        if _same(entry.case_sensitive, read["ext:case_sensitive"][0]):
            top_case = read["case_sensitive"][0] if "case_sensitive" in read else None
        else:
            ext["case_sensitive"] = entry.case_sensitive
            if "case_sensitive" not in read:
                top_case = None
    parsed_position = read["position"][0] if "position" in read else "before_char"
    st_position = ext.get("position")
    if entry.position != parsed_position and isinstance(st_position, int) \
            and not isinstance(st_position, bool):
        ext["position"] = 0 if entry.position == "before_char" else 1  # SillyTavern's code
    _put(out, read, "extensions", ext, default={}, always=new)
    _put(out, read, "enabled", entry.enabled, default=True, always=new)
    _put(out, read, "insertion_order", entry.insertion_order, default=DEFAULT_INSERTION_ORDER,
         always=new)
    _put(out, read, "case_sensitive", top_case)
    _put(out, read, "use_regex", entry.use_regex, default=False, always=new)
    _put(out, read, "constant", entry.constant, default=False)
    _put(out, read, "name", entry.name)
    _put(out, read, "priority", entry.priority)
    _put(out, read, "id", entry.id)
    _put(out, read, "comment", entry.comment)
    _put(out, read, "selective", entry.selective, default=False)
    _put(out, read, "secondary_keys", list(entry.secondary_keys), default=[])
    _put(out, read, "position", entry.position, default="before_char")
    for key, value in entry.extra.items():
        out.setdefault(key, copy.deepcopy(value))
    return _ordered(out, entry._order)


def book_to_dict(book: Lorebook) -> dict[str, Any]:
    """The book as a V2/V3 ``character_book`` object (what a card embeds)."""
    read = book._read
    out: dict[str, Any] = {}
    _put(out, read, "name", book.name)
    _put(out, read, "description", book.description)
    _put(out, read, "scan_depth", book.scan_depth)
    _put(out, read, "token_budget", book.token_budget)
    _put(out, read, "recursive_scanning", book.recursive_scanning)
    _put(out, read, "extensions", book.extensions, default={}, always=not book._order)
    out["entries"] = [entry_to_dict(e) for e in book.entries]
    for key, value in book.extra.items():
        out.setdefault(key, copy.deepcopy(value))
    return _ordered(out, book._order)


def book_to_lorebook_v3(book: Lorebook) -> dict[str, Any]:
    """The standalone file form: ``{"spec": "lorebook_v3", "data": ...}``."""
    out: dict[str, Any] = {"spec": SPEC_LOREBOOK_V3, "data": book_to_dict(book)}
    for key, value in book.top_extra.items():
        out.setdefault(key, copy.deepcopy(value))
    return out


# --------------------------------------------------------------------------
# Files


def load_book_file(path: Path) -> Lorebook:
    """Read a lorebook JSON file (any supported shape); errors name the file."""
    path = as_path(path)
    try:
        if is_sealed(path):
            raw = path.read_bytes()
        else:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise LoreError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise LoreError(f"{path}: is a folder, not a lorebook file") from None
    except OSError as exc:
        raise LoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise LoreError(f"{path}: too large for a lorebook (over {MAX_FILE_BYTES // (1024 * 1024)} MiB)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoreError(f"{path}: not a UTF-8 text file") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoreError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise LoreError(f"{path}: JSON nested too deeply") from None
    return parse_book(obj, str(path), default_name=path.stem)


def save_book_file(path: Path, book: Lorebook) -> None:
    """Write ``book`` as a ``lorebook_v3`` JSON file (mode 0600, atomically)."""
    text = json.dumps(book_to_lorebook_v3(book), indent=2, ensure_ascii=False) + "\n"
    atomic_write(as_path(path), text)


# --------------------------------------------------------------------------
# Decorators


_KNOWN_DECORATORS = frozenset(("activate", "dont_activate", "scan_depth", "additional_keys",
                               "exclude_keys"))


@functools.lru_cache(maxsize=4096)
def _decorators(content: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Split leading ``@@name value`` lines off ``content``.

    Unrecognized decorators are dropped from the text too; a ``@@@`` line is a
    fallback, used only when the decorator above it was not recognized.
    """
    if not content.lstrip().startswith("@@"):
        return (), content.strip()
    lines = content.replace("\r\n", "\n").split("\n")
    found: dict[str, str] = {}
    want_fallback = False
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith("@@"):
            break
        fallback = line.startswith("@@@")
        name, _, value = line.lstrip("@").partition(" ")
        name = name.strip().lower()
        if fallback and not want_fallback:
            i += 1
            continue
        if name in _KNOWN_DECORATORS:
            found.setdefault(name, value.strip())
            want_fallback = False
        else:
            want_fallback = True
        i += 1
    return tuple(found.items()), "\n".join(lines[i:]).strip()


# --------------------------------------------------------------------------
# Matching


_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR",
             "TIBETAN", "IDEOGRAPHIC", "HALFWIDTH KATAKANA", "YI ")


def _needs_boundary(ch: str) -> bool:
    if not (ch.isalnum() or ch == "_"):
        return False
    name = unicodedata.name(ch, "")
    return not name.startswith(_UNSPACED)


@functools.lru_cache(maxsize=8192)
def _literal(key: str, case_sensitive: bool, whole_words: bool) -> re.Pattern[str]:
    body = re.escape(key)
    if whole_words:
        if _needs_boundary(key[0]):
            body = r"(?<!\w)" + body
        if _needs_boundary(key[-1]):
            body += r"(?!\w)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


# The only non-ASCII characters that ``re.IGNORECASE`` equates with ASCII
# letters (dotted/dotless I, long s, Kelvin sign): folded before the quick
# ``in`` test so it never rejects a real match.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class _Haystack:
    def __init__(self, text: str) -> None:
        self.text = text
        self._bytes: bytes | None = None
        self._folded: str | None = None

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = self.text.translate(_ASCII_FOLD).lower()
        return self._folded

    @property
    def bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = encode_text(self.text)
        return self._bytes


_JOIN = "\n\x01\n"  # between messages: a non-word separator no plain key contains


class _Scan:
    """Shared state of one activate() call."""

    def __init__(self, texts: Sequence[str], macros: Mapping[str, str] | None,
                 regex_seconds: float) -> None:
        self.texts = [t for t in texts if isinstance(t, str)]
        self.macros = macros
        self.budget = SearchBudget(regex_seconds)
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._chat: dict[int, str] = {}
        self.buffer = ""            # activated content, for recursion

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)

    def chat(self, depth: int) -> str:
        if depth not in self._chat:
            recent = self.texts[-depth:] if depth > 0 else []
            self._chat[depth] = _JOIN.join(recent)[-MAX_SCAN_CHARS:]
        return self._chat[depth]

    def key(self, key: str) -> str:
        if self.macros and "{{" in key:
            key = expand(key, self.macros)
        return key.strip()


def _key_hits(scan: _Scan, book: Lorebook, entry: LoreEntry, key: str, hay: _Haystack) -> bool:
    key = scan.key(key)
    if not key:
        return False
    mode = entry.regex_mode
    pattern: SafePattern | None = None
    try:
        if mode in ("slash", "all"):
            pattern = compile_slash_regex(key)
            if pattern is None and mode == "all":
                pattern = compile_safe(key, ignore_case=not entry.case_sensitive)
    except RegexRejected as exc:
        scan.warn(f"lorebook {book.label!r}, entry {entry.label!r}: key {key[:60]!r} skipped ({exc})")
        return False
    if pattern is None:
        # a cheap substring test first: most keys are absent from most chats
        if entry.case_sensitive:
            if key not in hay.text:
                return False
        elif key.isascii() and key.lower() not in hay.folded:
            return False
        whole = True if entry.whole_words is None else entry.whole_words
        return _literal(key, bool(entry.case_sensitive), whole).search(hay.text) is not None
    try:
        return scan.budget.search(pattern, hay.bytes)
    except BudgetSpent:
        scan.warn(f"lorebook {book.label!r}, entry {entry.label!r}: regex key {key[:60]!r} "
                  "skipped (regex time limit for this turn reached)")
        return False


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _evaluate(scan: _Scan, book: Lorebook, entry: LoreEntry, hay: _Haystack) -> str | None:
    """Why ``entry`` fires on ``hay`` (by keys), or None."""
    decos = dict(_decorators(entry.content)[0])
    primary = next((k for k in entry.keys if _key_hits(scan, book, entry, k, hay)), None)
    if primary is None:
        return None
    if "additional_keys" in decos:
        if not any(_key_hits(scan, book, entry, k, hay) for k in _split_list(decos["additional_keys"])):
            return None
    if "exclude_keys" in decos:
        if any(_key_hits(scan, book, entry, k, hay) for k in _split_list(decos["exclude_keys"])):
            return None
    reason = f"key {scan.key(primary)!r}"
    secondary = [k for k in entry.secondary_keys if k.strip()]
    if not (entry.selective and secondary):
        return reason
    logic = entry.selective_logic
    hits = []
    for k in secondary:
        hit = _key_hits(scan, book, entry, k, hay)
        hits.append(hit)
        if logic == "and_any" and hit:
            return f"{reason} + {scan.key(k)!r}"
        if logic == "not_all" and not hit:
            return f"{reason}, not {scan.key(k)!r}"
    if logic == "not_any" and not any(hits):
        return f"{reason}, none of the secondary keys"
    if logic == "and_all" and all(hits):
        return f"{reason} + all secondary keys"
    return None


def _entry_depth(book: Lorebook, entry: LoreEntry, default: int) -> int:
    decos = dict(_decorators(entry.content)[0])
    depth: Any = _as_number(decos.get("scan_depth", "")) if "scan_depth" in decos else None
    if depth is None or depth < 0:
        depth = entry.scan_depth
    if depth is None:
        depth = book.scan_depth if book.scan_depth is not None else default
    return max(0, min(int(depth), MAX_SCAN_DEPTH))


# --------------------------------------------------------------------------
# Activation


def activate(
    books: Sequence[Lorebook],
    recent_texts: Sequence[str],
    count_tokens: Callable[[str], int],
    *,
    max_recursion: int = DEFAULT_MAX_RECURSION,
    default_scan_depth: int = DEFAULT_SCAN_DEPTH,
    default_budget: int = DEFAULT_TOKEN_BUDGET,
    total_budget: int | None = None,
    macros: Mapping[str, str] | None = None,
    regex_seconds: float = REGEX_TIME_BUDGET_S,
) -> LoreResult:
    """Choose the entries of ``books`` that the chat calls for.

    ``recent_texts`` are the chat messages, oldest first (include the
    speaker's name in each if names should trigger entries). ``count_tokens``
    measures an entry's text. ``macros`` (e.g. ``{"char": ..., "user": ...}``)
    are expanded in keys before matching. See the module docstring for rules.
    """
    scan = _Scan(recent_texts, macros, regex_seconds)
    result = LoreResult(warnings=scan.warnings)
    token_cache: dict[int, int] = {}
    used_by_book: dict[int, int] = {}
    used_total = 0
    decided: set[tuple[int, int]] = set()
    index = {(bi, ei): (book, entry)
             for bi, book in enumerate(books) for ei, entry in enumerate(book.entries)}

    def tokens_of(entry: LoreEntry) -> int:
        if id(entry) not in token_cache:
            token_cache[id(entry)] = max(0, int(count_tokens(entry.text)))
        return token_cache[id(entry)]

    def budget_of(book: Lorebook) -> int:
        own = book.token_budget
        return own if own is not None and own > 0 else default_budget

    for bi, ei in index:
        book, entry = index[(bi, ei)]
        if not entry.enabled or not entry.text:
            decided.add((bi, ei))

    for round_no in range(max(0, max_recursion) + 1):
        candidates: list[tuple[int, int, str]] = []
        recursion = round_no > 0
        if recursion and not scan.buffer:
            break
        hays: dict[int, _Haystack] = {}
        for (bi, ei), (book, entry) in index.items():
            if (bi, ei) in decided:
                continue
            if recursion and (not book.recursive_scanning or entry.exclude_recursion):
                continue
            decos = dict(_decorators(entry.content)[0])
            if "activate" in decos:
                reason: str | None = "@@activate" if not recursion else None
            elif "dont_activate" in decos:
                decided.add((bi, ei))
                continue
            elif entry.constant:
                reason = "constant" if not recursion else None
            else:
                depth = _entry_depth(book, entry, default_scan_depth)
                if depth not in hays:
                    text = scan.chat(depth)
                    if recursion:  # the chat plus what lore has added so far
                        tail = scan.buffer[-MAX_SCAN_CHARS:]
                        text = f"{text}{_JOIN}{tail}" if text else tail
                    hays[depth] = _Haystack(text)
                hay = hays[depth]
                reason = _evaluate(scan, book, entry, hay) if hay.text else None
                if reason and recursion:
                    reason = f"recursion: {reason}"
            if reason:
                candidates.append((bi, ei, reason))
        if not candidates:
            break

        def keep_order(item: tuple[int, int, str]) -> tuple:
            entry = index[(item[0], item[1])][1]
            return (-(entry.priority or 0), -entry.insertion_order, item[0], item[1])

        fresh: list[Activated] = []
        for bi, ei, reason in sorted(candidates, key=keep_order):
            book, entry = index[(bi, ei)]
            decided.add((bi, ei))
            cost = tokens_of(entry)
            chosen = Activated(entry, book, reason, cost, round_no)
            fits = used_by_book.get(bi, 0) + cost <= budget_of(book)
            if total_budget is not None and used_total + cost > total_budget:
                fits = False
            if not fits:
                result.dropped.append(chosen)
                continue
            used_by_book[bi] = used_by_book.get(bi, 0) + cost
            used_total += cost
            fresh.append(chosen)
        result.activated.extend(fresh)
        if not any(b.recursive_scanning for b in books):
            break
        added = [a.text for a in fresh if not a.entry.prevent_recursion]
        if not added:
            break
        if scan.macros:
            added = [expand(t, scan.macros) for t in added]
        scan.buffer = _JOIN.join([scan.buffer, *added]) if scan.buffer else _JOIN.join(added)

    if result.dropped:
        names = ", ".join(repr(a.entry.label) for a in result.dropped[:5])
        more = f" and {len(result.dropped) - 5} more" if len(result.dropped) > 5 else ""
        scan.warn(f"lore over its token budget: left out {names}{more}")
    place = {id(entry): (bi, ei) for (bi, ei), (_book, entry) in index.items()}
    result.activated.sort(key=lambda a: (a.entry.insertion_order, place[id(a.entry)]))
    return result


def books_from(sources: Iterable[Lorebook | Mapping[str, Any] | None]) -> list[Lorebook]:
    """Books from a mix of parsed books and raw ``character_book`` dicts
    (e.g. ``Card.character_book``); None is skipped, a bad dict raises."""
    out = []
    for n, src in enumerate(sources):
        if src is None:
            continue
        out.append(src if isinstance(src, Lorebook) else parse_book(dict(src), f"lorebook {n + 1}"))
    return out
