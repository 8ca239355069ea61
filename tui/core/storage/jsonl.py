"""messages.jsonl lines: writing, parsing, and reading a file with repair.

See docs/ARCHITECTURE.md (storage) for the crash-safety rules.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.core.fsio import atomic_write, is_sealed
from tui.core.storage.errors import StoreError
from tui.core.storage.model import MESSAGE_VERSION, LoadReport, Message


def dump_line(obj: dict[str, Any]) -> str:
    """One JSONL line; readable UTF-8 unless the text holds lone surrogates."""
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return line


def dump_messages(msgs: list[Message]) -> str:
    return "".join(dump_line(m.to_json()) + "\n" for m in msgs)


def parse_line(raw: bytes) -> Message:
    """One stored line as a message; ``ValueError`` for a corrupt line and
    ``StoreError`` for one written by a newer Candlelit."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(str(e)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    v = obj.get("v", 1) if isinstance(obj, dict) else None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("bad line version")
    if v > MESSAGE_VERSION:
        raise StoreError(
            f"a chat has messages written by a newer Candlelit (line format v{v}, this "
            f"one reads v{MESSAGE_VERSION}); update Candlelit to open it"
        )
    return Message.from_json(obj)


def split_nl(raw: bytes) -> list[bytes]:
    """Split into lines that keep their own b"\\n"; only b"\\n" ends a line."""
    parts = raw.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def has_torn_tail(path: Path) -> bool:
    """Whether the file's last line lacks its newline (a torn append)."""
    if is_sealed(path):
        return False  # sealed files are rewritten whole: never torn
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except FileNotFoundError:
        return False
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None


def read_repairing(path: Path, chat_id: str) -> tuple[list[Message], LoadReport]:
    """Every message of ``path``; bad lines are set aside, never raised.

    A final line without its newline was never acknowledged (a torn append);
    it, and any line in the middle that does not parse, are moved
    byte-for-byte, in order, to a side file ``messages.jsonl.torn-<timestamp>``
    beside it (written before anything is dropped); the main file is then
    rewritten atomically with every other line kept exactly as it was, and
    ``LoadReport.torn`` names the side file.

    Lines whose ``"v"`` is newer than ``MESSAGE_VERSION`` leave the file
    untouched and raise ``StoreError`` ("written by a newer Candlelit"): we
    neither guess at their meaning nor drop them, so a newer Candlelit finds
    its data intact.
    """
    report = LoadReport()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], report
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
    msgs, keep, bad, newer = _sort_lines(split_nl(raw))
    if newer is not None:
        raise StoreError(
            f"chat '{chat_id}' has messages written by a newer Candlelit (line format "
            f"v{newer}, this one reads v{MESSAGE_VERSION}); update Candlelit to open it"
        )
    if bad:
        side = side_file(path.parent)
        atomic_write(side, b"".join(bad))  # the bytes are safe before we drop them
        atomic_write(path, b"".join(keep))
        report.torn.append(side)
    return msgs, report


def _sort_lines(
    lines: list[bytes],
) -> tuple[list[Message], list[bytes], list[bytes], int | None]:
    """(messages, lines to keep, bad lines, newest too-new version or None)."""
    msgs: list[Message] = []
    keep: list[bytes] = []
    bad: list[bytes] = []
    newer: int | None = None
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line.endswith(b"\n"):
            bad.append(line)  # never acknowledged: a torn append
            continue
        if not line.strip():
            keep.append(line)
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
            v = obj.get("v", 1) if isinstance(obj, dict) else None
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError("bad line version")
            if v > MESSAGE_VERSION:
                newer = max(newer or 0, v)
                keep.append(line)
                continue
            msgs.append(Message.from_json(obj))
            keep.append(line)
        except (ValueError, UnicodeDecodeError, RecursionError):
            bad.append(line)
    return msgs, keep, bad, newer


def side_file(folder: Path) -> Path:
    """A new ``messages.jsonl.torn-<timestamp>[-n]`` path in ``folder``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    side = folder / f"messages.jsonl.torn-{stamp}"
    n = 2
    while side.exists():
        side = folder / f"messages.jsonl.torn-{stamp}-{n}"
        n += 1
    return side
