"""Lorebooks written back losslessly (``entry_to_dict``, ``book_to_dict``), and lorebook files.

Reading lives in :mod:`tui.core.lore.parse`; see docs/ARCHITECTURE.md (lore).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tui.core.fsio import as_path, atomic_write, is_sealed
from tui.core.lore.book import (
    DEFAULT_INSERTION_ORDER,
    MAX_FILE_BYTES,
    SELECTIVE_LOGIC,
    SPEC_LOREBOOK_V3,
    Lorebook,
    LoreEntry,
    LoreError,
)
from tui.core.lore.parse import DERIVED, parse_book

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
    for attr, key in DERIVED:
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
    """The book as a V2/V3 ``character_book`` object (what a card embeds).

    Lossless: unknown fields stay in ``extra``, ``extensions`` are kept
    verbatim, and a field that was not edited is written exactly as it was
    read (a missing field stays missing, a ``"10"`` stays a string)."""
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
    except ValueError as exc:  # a giant integer
        raise LoreError(f"{path}: not valid lorebook JSON ({' '.join(str(exc).split())[:120]})") from None
    return parse_book(obj, str(path), default_name=path.stem)


def save_book_file(path: Path, book: Lorebook) -> None:
    """Write ``book`` as a ``lorebook_v3`` JSON file (mode 0600, atomically)."""
    text = json.dumps(book_to_lorebook_v3(book), indent=2, ensure_ascii=False) + "\n"
    atomic_write(as_path(path), text)


def books_from(sources: Iterable[Lorebook | Mapping[str, Any] | None]) -> list[Lorebook]:
    """Books from a mix of parsed books and raw ``character_book`` dicts
    (e.g. ``Card.character_book``); None is skipped, a bad dict raises."""
    out = []
    for n, src in enumerate(sources):
        if src is None:
            continue
        out.append(src if isinstance(src, Lorebook) else parse_book(dict(src), f"lorebook {n + 1}"))
    return out
