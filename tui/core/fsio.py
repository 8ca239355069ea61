"""Crash-safe, private file primitives: folders 0700, files 0600.

``ensure_dir``, ``atomic_write`` and ``append_line``; every write in Candlelit
goes through here. See docs/ARCHITECTURE.md#the-bottom-floor.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Protocol, cast

DIR_MODE = 0o700
FILE_MODE = 0o600


class Sealed(Protocol):
    """What this module asks of a path inside an encrypted profile
    (``tui.core.privacy.sealed_path.SealedPath``): it writes through it."""

    is_sealed: bool

    def mkdir(self, *, parents: bool = False, exist_ok: bool = False) -> None: ...
    def write_bytes(self, data: bytes) -> None: ...
    def append_line(self, line: str) -> None: ...
    def rename(self, target: Any) -> None: ...
    def remove_tree(self) -> None: ...
    def segments(self) -> list[tuple[str, int, int, int]]: ...
    def segment_layout(self) -> list[tuple[str, tuple[int, int, int], int | None]]: ...
    def read_segment(self, opaque: str) -> bytes: ...


def is_sealed(path: object) -> bool:
    """True for a path inside an encrypted profile (``tui.core.privacy.sealed_fs``)."""
    return getattr(path, "is_sealed", False) is True


def sealed(path: object) -> Sealed:
    """``path`` as the sealed path it is (after ``is_sealed``): a sealed path
    stands in for a ``Path`` everywhere, and writes through its own methods."""
    return cast(Sealed, path)


def as_path(path: Any) -> Any:
    """``Path(path)``, except that a sealed path stays what it is."""
    return path if is_sealed(path) else Path(path)


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; return it."""
    if is_sealed(path):
        sealed(path).mkdir(parents=True, exist_ok=True)
        return path
    path = Path(path)
    if not path.is_dir():
        missing = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                os.mkdir(d, DIR_MODE)
            except FileExistsError:
                pass
            _fsync_dir(d.parent)
    try:
        if (os.stat(path).st_mode & 0o777) != DIR_MODE:
            os.chmod(path, DIR_MODE)
    except PermissionError:
        pass
    return path


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    if is_sealed(path):
        return  # a sealed change is durable when it returns
    _fsync_dir(Path(path))


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (signals, pipes): loop until done."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically and durably (mode 0600)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if is_sealed(path):
        sealed(path).write_bytes(data)
        return
    path = Path(path)
    ensure_dir(path.parent)
    _replace(path, data)


def _replace(path: Path, data: bytes) -> None:
    """Temp file beside ``path`` (0600), fsync, rename over it, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` (newline added) and fsync before returning."""
    if "\n" in line:
        raise ValueError("a JSONL line must not contain a newline")
    if is_sealed(path):
        sealed(path).append_line(line)
        return
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if not existed:
        _fsync_dir(path.parent)


def rename(src: Path, dst: Path) -> None:
    """``os.rename`` (files or folders), also inside an encrypted profile."""
    if is_sealed(src):
        sealed(src).rename(dst)
        return
    os.rename(src, dst)


def remove_tree(path: Path) -> None:
    """Remove a folder and everything in it; what is already gone is fine."""
    if is_sealed(path):
        sealed(path).remove_tree()
        return
    shutil.rmtree(path, ignore_errors=True)


def secure_file(path: Path) -> None:
    """Tighten an existing file to 0600."""
    if is_sealed(path):
        return
    try:
        if (os.stat(path).st_mode & 0o777) != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except OSError:
        pass


def write_outside(path: Path, data: bytes | str) -> None:
    """Write a file the user asked for outside the data folder (an export):
    atomic and 0600 like ``atomic_write``, but the folder must already exist
    and its own permissions are left alone (it is the user's folder, not
    ours). Never for a path inside an encrypted profile."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(2, "the folder does not exist", str(parent))
    _replace(path, data)


def size_text(n: int) -> str:
    """A size for a message: "3 MiB", "2.5 MiB", "12 KiB", "80 bytes"."""
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB".replace(".0 MiB", " MiB")
    if n >= 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n} bytes"


def read_limited(path: Path, limit: int, kind: str) -> tuple[bytes, float]:
    """A file the user named (a card, a chat file) of at most ``limit`` bytes:
    its bytes and mtime. Anything wrong is a ``ValueError`` saying in one
    line, without the path, what it is (``kind`` names what the file should
    have been: "card file")."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ValueError(f"is a folder, not a {kind}")
        if path.exists() and not path.is_file():
            raise ValueError("not a regular file")
        st = path.stat()
        if st.st_size > limit:
            raise ValueError(f"file too large ({size_text(st.st_size)}; the limit is {size_text(limit)})")
        with path.open("rb") as fh:
            return fh.read(limit + 1), st.st_mtime
    except FileNotFoundError:
        raise ValueError("file not found") from None
    except OSError as exc:
        raise ValueError(f"cannot read ({exc.strerror or exc})") from None
