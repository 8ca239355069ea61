"""Streaming age files to disk while hashing what passes through.

See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.core.fsio import FILE_MODE, ensure_dir, fsync_dir


class HashingReader:
    """A reader for pyrage that hashes what it reads."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")
        self._h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        return data

    def close(self) -> None:
        self._f.close()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


class HashingSink:
    """A writer for pyrage that hashes, forwards, and remembers its own I/O errors."""

    def __init__(self) -> None:
        self.target: Any = None
        self.error: OSError | None = None
        self._h = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._h.update(data)
        if self.target is not None:
            try:
                self.target.write(data)
            except OSError as exc:
                self.error = exc
                raise
        return len(data)

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def write_via(dst: Path, fill: Callable[[Any], None]) -> None:
    """Create ``dst`` atomically (0600) with ``fill(fileobj)``; fsync before rename."""
    ensure_dir(dst.parent)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, dst)
    fsync_dir(dst.parent)
