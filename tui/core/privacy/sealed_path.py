"""SealedPath: a path inside an encrypted profile, with the small part of
the ``pathlib.Path`` interface the storage modules use.

See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol


@dataclass(frozen=True)
class SealedStat:
    st_size: int
    st_mtime: float
    st_mtime_ns: int
    st_mode: int = 0o100600
    st_ino: int = 0  # a file's: its last segment's (every rewrite makes a new one)


class SealedFiles(Protocol):
    """The file operations of an unlocked encrypted profile
    (``tui.core.privacy.sealed_fs.SealedFS``) that paths into it use."""

    profile_dir: Path

    def is_file(self, rel: str) -> bool: ...
    def is_dir(self, rel: str) -> bool: ...
    def children(self, rel: str) -> list[str]: ...
    def stat(self, rel: str) -> SealedStat: ...
    def read(self, rel: str) -> bytes: ...
    def write(self, rel: str, data: bytes | str) -> None: ...
    def append_line(self, rel: str, line: str) -> None: ...
    def segments(self, rel: str) -> list[tuple[str, int, int, int]]: ...
    def segment_layout(self, rel: str) -> list[tuple[str, tuple[int, int, int], int | None]]: ...
    def read_segment(self, rel: str, opaque: str) -> bytes: ...
    def unlink(self, rel: str) -> None: ...
    def mkdir(self, rel: str, *, parents: bool, exist_ok: bool) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def remove_tree(self, rel: str) -> None: ...


def clean_rel(rel: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(rel).parts:
        if part in ("", ".", "/"):
            continue
        if part == "..":
            raise ValueError(f"'..' is not allowed in a profile path: {rel!r}")
        parts.append(part)
    return "/".join(parts)


class SealedPath:
    """A path inside an encrypted profile.

    It offers ``/``, ``name``, ``parent``, ``exists``, ``is_file``, ``is_dir``,
    ``iterdir``, ``glob``, ``read_bytes``, ``read_text``, ``unlink``,
    ``mkdir``, and the :mod:`tui.core.fsio` primitives (``atomic_write``,
    ``append_line``, ``ensure_dir``, ``rename``, ``remove_tree``) dispatch on
    it, so every storage module keeps one code path and an encrypted profile
    writes no plain byte. It has no ``__fspath__``: handing one to ``open()``
    or an ``os`` function raises ``TypeError`` instead of writing a plain file.
    """

    __slots__ = ("fs", "rel")
    is_sealed = True

    def __init__(self, fs: SealedFiles, rel: str = "") -> None:
        self.fs = fs
        self.rel = clean_rel(rel)

    # -- pure path parts -----------------------------------------------------

    def __truediv__(self, other: str) -> SealedPath:
        if not isinstance(other, str):
            return NotImplemented
        if other.startswith("/"):
            raise ValueError("an absolute path cannot be joined to a profile path")
        return SealedPath(self.fs, f"{self.rel}/{other}" if self.rel else other)

    def joinpath(self, *others: str) -> SealedPath:
        out = self
        for o in others:
            out = out / o
        return out

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1] if self.rel else ""

    @property
    def parent(self) -> SealedPath:
        return SealedPath(self.fs, self.rel.rsplit("/", 1)[0] if "/" in self.rel else "")

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix if self.name else ""

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem if self.name else ""

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.rel.split("/")) if self.rel else ()

    def with_name(self, name: str) -> SealedPath:
        if not self.rel or "/" in name or not name:
            raise ValueError(f"cannot rename {self!s} to {name!r}")
        return self.parent / name

    def with_suffix(self, suffix: str) -> SealedPath:
        return self.with_name(self.stem + suffix)

    def relative_to(self, other: SealedPath) -> PurePosixPath:
        if not isinstance(other, SealedPath) or other.fs is not self.fs:
            raise ValueError(f"{self!s} is not inside {other!s}")
        if other.rel and not (self.rel == other.rel or self.rel.startswith(other.rel + "/")):
            raise ValueError(f"{self!s} is not inside {other!s}")
        return PurePosixPath(self.rel[len(other.rel):].lstrip("/") or ".")

    def __str__(self) -> str:
        return str(self.fs.profile_dir / self.rel) if self.rel else str(self.fs.profile_dir)

    def __repr__(self) -> str:
        return f"SealedPath({self.rel!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedPath) and other.fs is self.fs and other.rel == self.rel

    def __hash__(self) -> int:
        return hash((id(self.fs), self.rel))

    def __lt__(self, other: SealedPath) -> bool:
        return self.rel < other.rel

    # -- the file system -----------------------------------------------------

    def exists(self) -> bool:
        return self.fs.is_dir(self.rel) or self.fs.is_file(self.rel)

    def is_file(self) -> bool:
        return self.fs.is_file(self.rel)

    def is_dir(self) -> bool:
        return self.fs.is_dir(self.rel)

    def is_symlink(self) -> bool:
        return False

    def iterdir(self) -> Iterator[SealedPath]:
        for name in self.fs.children(self.rel):
            yield self / name

    def glob(self, pattern: str) -> Iterator[SealedPath]:
        if "/" in pattern or "**" in pattern:
            raise ValueError("only one-level glob patterns are supported in a profile")
        if not self.is_dir():
            return
        for name in self.fs.children(self.rel):
            if fnmatch.fnmatchcase(name, pattern):
                yield self / name

    def stat(self) -> SealedStat:
        return self.fs.stat(self.rel)

    def read_bytes(self) -> bytes:
        return self.fs.read(self.rel)

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.fs.read(self.rel).decode(encoding, errors)

    def write_bytes(self, data: bytes) -> int:
        self.fs.write(self.rel, data)
        return len(data)

    def write_text(self, data: str, encoding: str = "utf-8") -> int:
        self.fs.write(self.rel, data.encode(encoding))
        return len(data)

    def append_line(self, line: str) -> None:
        self.fs.append_line(self.rel, line)

    def segments(self) -> list[tuple[str, int, int, int]]:
        return self.fs.segments(self.rel)

    def segment_layout(self) -> list[tuple[str, tuple[int, int, int], int | None]]:
        return self.fs.segment_layout(self.rel)

    def read_segment(self, opaque: str) -> bytes:
        return self.fs.read_segment(self.rel, opaque)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.unlink(self.rel)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def mkdir(self, mode: int = 0o700, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.mkdir(self.rel, parents=parents, exist_ok=exist_ok)

    def rename(self, target: SealedPath) -> SealedPath:
        if not isinstance(target, SealedPath) or target.fs is not self.fs:
            raise ValueError("a file in an encrypted profile can only move inside it")
        self.fs.rename(self.rel, target.rel)
        return target

    def remove_tree(self) -> None:
        self.fs.remove_tree(self.rel)
