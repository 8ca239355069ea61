"""Reading SillyTavern chat files (JSON Lines): strict where guessing would lose data.

A line that is not a JSON object stops the read with :class:`ChatFileError`;
only a torn final line (an interrupted save) is left out, as a warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.core.errors import CandlelitError
from tui.core.fsio import read_limited, size_text
from tui.core.safe_text import neutralize

MAX_FILE_BYTES = 256 * 1024 * 1024   # one chat file
MAX_LINE_BYTES = 16 * 1024 * 1024    # one message line
MAX_MESSAGES = 500_000
MAX_JSON_DEPTH = 64

HEADER_KEYS = ("user_name", "character_name", "create_date", "chat_metadata")
SYSTEM_NAME = "System"  # SillyTavern's name for its own notes


class ChatFileError(CandlelitError):
    """A chat file that cannot be imported or written; ``str()`` is one line."""


@dataclass
class StLine:
    """One message line as read: its 1-based line number and object."""

    line: int
    obj: dict[str, Any]


@dataclass
class StChat:
    """A SillyTavern chat file as read."""

    path: Path
    header: dict[str, Any] | None
    lines: list[StLine]
    torn_line: int | None = None  # a final line that did not parse (left out)
    mtime: float | None = None


def location(path: Path, line: int | None = None) -> str:
    name = neutralize(str(path))
    return f"{name}:{line}" if line is not None else name


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_ok(obj: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return True


def _parse_line(raw: bytes) -> Any:
    """One JSON value or ``ValueError`` with a short reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(value, (dict, list)) and not _depth_ok(value):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _is_header(obj: dict[str, Any]) -> bool:
    return "mes" not in obj and any(k in obj for k in HEADER_KEYS)


def read_st_bytes(raw: bytes, path: Path) -> StChat:
    """Parse the bytes of a SillyTavern chat file (``path`` names it in errors)."""
    if len(raw) > MAX_FILE_BYTES:
        raise ChatFileError(
            f"{location(path)}: file too large ({size_text(len(raw))}; the limit is {size_text(MAX_FILE_BYTES)})"
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise ChatFileError(f"{location(path)}: the file is empty")
    if raw.lstrip()[:1] == b"[":
        raise ChatFileError(
            f"{location(path)}: a JSON array, not a SillyTavern chat (.jsonl: one JSON object per line)"
        )
    physical = raw.split(b"\n")
    numbered = [(i + 1, ln) for i, ln in enumerate(physical) if ln.strip()]
    header: dict[str, Any] | None = None
    lines: list[StLine] = []
    torn: int | None = None
    last = numbered[-1][0]
    for lineno, data in numbered:
        if len(data) > MAX_LINE_BYTES:
            raise ChatFileError(
                f"{location(path, lineno)}: line too long "
                f"({size_text(len(data))}; the limit is {size_text(MAX_LINE_BYTES)})"
            )
        try:
            obj = _parse_line(data)
        except ValueError as exc:
            if lineno == last and len(numbered) > 1:
                torn = lineno  # an interrupted save: everything before it is whole
                continue
            raise ChatFileError(f"{location(path, lineno)}: {exc}") from None
        if not isinstance(obj, dict):
            raise ChatFileError(
                f"{location(path, lineno)}: not a JSON object (a SillyTavern chat has one object per line)"
            )
        if header is None and not lines and _is_header(obj):
            header = obj
            continue
        _check_message(obj, path, lineno)
        lines.append(StLine(lineno, obj))
        if len(lines) > MAX_MESSAGES:
            raise ChatFileError(f"{location(path)}: more than {MAX_MESSAGES:,} messages")
    if not lines:
        raise ChatFileError(f"{location(path)}: no messages in this chat file")
    return StChat(path, header, lines, torn)


def read_st_file(path: Path) -> StChat:
    """Read a SillyTavern chat file; ``ChatFileError`` for anything wrong."""
    path = Path(path)
    try:
        raw, mtime = read_limited(path, MAX_FILE_BYTES, "chat file")
    except ValueError as exc:
        raise ChatFileError(f"{location(path)}: {exc}") from None
    chat = read_st_bytes(raw, path)
    chat.mtime = mtime
    return chat


def _check_message(obj: dict[str, Any], path: Path, lineno: int) -> None:
    """The fields a message needs to be read without guessing."""

    def bad(what: str) -> ChatFileError:
        return ChatFileError(f"{location(path, lineno)}: {what}")

    if message_text(obj.get("mes")) is None:
        raise bad("'mes' (the message text) must be text")
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise bad("'name' must be text")
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise bad("'extra' must be an object")


def message_text(value: Any) -> str | None:
    """``mes`` as text: a string, nothing (""), or Chub's ``{"message": ...}``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return None


def swipe_list(value: Any) -> list[str] | None:
    """``swipes`` as a list of texts (Chub's objects flattened, as SillyTavern
    does on import), or None when it is missing or not readable as one."""
    if not isinstance(value, list) or not value:
        return None
    out = []
    for item in value:
        text = item if isinstance(item, str) else message_text(item) if isinstance(item, dict) else None
        if text is None:
            return None
        out.append(text)
    return out
