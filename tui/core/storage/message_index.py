"""``messages.idx``: the cached offsets of a chat's message lines, and its checks.

The header records the chat file's size and mtime it covers, a hash of the
``TAIL`` bytes before that point and a hash of its own offsets; an index that
disagrees with the chat file in any of them is not used.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from pathlib import Path

MAGIC = b"CLMIDX2\n"            # the format version lives in the magic
# magic, covered bytes, count, mtime_ns, tail hash, hash of the offsets
HEADER = struct.Struct("<8sQQQ32s32s")
TAIL = 4096                     # bytes hashed before the covered end

INDEX_NAME = "messages.idx"


def tail_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def line_starts(raw: bytes, base: int = 0) -> list[int]:
    """Offsets (plus ``base``) of every non-blank, newline-terminated line."""
    out: list[int] = []
    pos = 0
    n = len(raw)
    find = raw.find
    while pos < n:
        end = find(b"\n", pos)
        if end < 0:
            break  # an unterminated tail is not a line (yet)
        if raw[pos:end].strip():
            out.append(base + pos)
        pos = end + 1
    return out


def read_index(
    data: bytes, size: int, mtime_ns: int, read: Callable[[int, int], bytes],
) -> tuple[list[int], int, int, int, bytes] | None:
    """``(offsets, covered, count, mtime_ns, tail)`` from the bytes of an index
    file, when it matches a chat file of ``size`` and ``mtime_ns`` exactly or
    covers a prefix of it; ``read(start, stop)`` reads the chat file. Else None."""
    if len(data) < HEADER.size:
        return None
    magic, covered, count, written_ns, tail, body_hash = HEADER.unpack_from(data)
    if magic != MAGIC or len(data) != HEADER.size + 8 * count or covered > size:
        return None
    if hashlib.sha256(memoryview(data)[HEADER.size:]).digest() != body_hash:
        return None  # damaged offsets (a stray write, a bad sector)
    if covered == size and written_ns != mtime_ns:
        return None  # same size, changed in place
    lo = max(0, covered - TAIL)
    if covered and tail_hash(read(lo, covered)) != tail:
        return None
    offsets = list(struct.unpack_from(f"<{count}Q", data, HEADER.size))
    if offsets and offsets[-1] >= covered:
        return None
    return offsets, covered, count, written_ns, tail


def pack_index(offsets: list[int], covered: int, mtime_ns: int, tail: bytes) -> tuple[bytes, bytes]:
    """The header and the body of an index file holding ``offsets``."""
    n = len(offsets)
    body = struct.pack(f"<{n}Q", *offsets)
    header = HEADER.pack(MAGIC, covered, n, mtime_ns, tail, hashlib.sha256(body).digest())
    return header, body


def append_index(path: Path, old: int, header: bytes, body: bytes) -> bool:
    """Extend the index file in place when it holds exactly the ``old`` offsets
    flushed before: write the new offsets after them, then the header.
    A crash in between leaves a length that disagrees with the header's
    count, which the next open detects and rebuilds. So an append costs
    a few hundred bytes, not the whole index."""
    if old <= 0:
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size != HEADER.size + 8 * old:
            return False  # not the file we wrote: write it whole
        os.pwrite(fd, body[8 * old:], HEADER.size + 8 * old)
        os.pwrite(fd, header, 0)
    finally:
        os.close(fd)
    return True
