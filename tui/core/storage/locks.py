"""Two processes on one profile: the app and the CLI, or two commands.

Two lock files per profile sit in ``.locks/`` beside the profiles folder
(not inside the profile, so they outlive the folder swap of an encryption,
a rename or a delete; they hold no data: empty, 0600; deleting or renaming
a profile removes its old ones):

- ``.<name>.lock``: held **shared** for as long as a process uses the
  profile (the app for its whole life, a command while it runs), and
  **exclusive** by whatever replaces or removes the folder (encrypt,
  decrypt, rename, delete). A conversion while the profile is open
  elsewhere is refused at once with one clear line (``ProfileBusy``),
  never waits, and never half-runs. The process that holds it shared may
  itself upgrade (the CLI's own ``profile encrypt``).
- ``.<name>.write.lock``: held **exclusive** around every read-modify-write
  of the profile's files (the store's appends, swipes, edits, deletes,
  imports, a torn tail's repair), for microseconds to milliseconds; other
  processes wait for it (up to ``WRITE_WAIT_S``).

``fcntl.flock`` locks belong to the open file, so they go when the process
does, however it ends (a kill -9 leaves no stale lock). Where there is no
``fcntl`` (Windows) the locks do nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from tui.core.fsio import ensure_dir
from tui.core.storage.errors import StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no inter-process locks
    fcntl = None  # type: ignore[assignment]

WRITE_WAIT_S = 30.0
FILE_MODE = 0o600


class ProfileBusy(StoreError):
    """The profile is in use by another Candlelit process."""


def _locks_dir(folder: Path) -> Path:
    return folder.parent.parent / ".locks"


def lock_path(folder: Path) -> Path:
    return _locks_dir(folder) / f"{folder.name}.lock"


def write_lock_path(folder: Path) -> Path:
    return _locks_dir(folder) / f"{folder.name}.write.lock"


def forget_locks(folder: Path) -> None:
    """Remove a deleted or renamed profile's lock files (they carry its
    name). Call while holding it exclusively."""
    for path in (lock_path(folder), write_lock_path(folder)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _open(path: Path) -> int:
    ensure_dir(path.parent)  # 0700, parents too
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    return fd


def _busy(folder: Path) -> ProfileBusy:
    return ProfileBusy(
        f"profile '{folder.name}' is open in another Candlelit process (the app or a command); "
        "close it there first, then try again"
    )


class _Holds:
    """This process's shared holds, one file per profile, counted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fds: dict[Path, tuple[int, int]] = {}  # path -> (fd, count)


_HOLDS = _Holds()


class ProfileHold:
    """A shared hold on a profile until ``release()`` (or the process ends)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = lock_path(folder)
        self._held = False
        if fcntl is None:
            return
        with _HOLDS.lock:
            fd, count = _HOLDS.fds.get(self.path, (-1, 0))
            if fd < 0:
                fd = _open(self.path)
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise _busy(folder) from None
            _HOLDS.fds[self.path] = (fd, count + 1)
        self._held = True

    def release(self) -> None:
        if not self._held or fcntl is None:
            return
        self._held = False
        with _HOLDS.lock:
            fd, count = _HOLDS.fds[self.path]
            if count > 1:
                _HOLDS.fds[self.path] = (fd, count - 1)
                return
            del _HOLDS.fds[self.path]
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> ProfileHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def hold_profile(folder: Path) -> ProfileHold:
    """Hold the profile shared (``ProfileBusy`` while it is being converted)."""
    return ProfileHold(folder)


@contextlib.contextmanager
def exclusive_profile(folder: Path) -> Iterator[None]:
    """The profile to oneself, for a conversion, rename or delete; refused
    at once (``ProfileBusy``) while any other process holds it."""
    if fcntl is None:
        yield
        return
    path = lock_path(folder)
    with _HOLDS.lock:
        own = _HOLDS.fds.get(path)
    if own is not None:  # our own shared hold: upgrade it, and back after
        fd = own[0]
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)  # a failed conversion may drop the old lock
            raise _busy(folder) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_SH)
        return
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(folder) from None
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class WriteLock:
    """A re-entrant lock for threads, and across processes an exclusive
    ``flock`` on the profile's write lock while the outermost holder holds it.
    A drop-in for the store's ``threading.RLock``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._rlock = threading.RLock()
        self._depth = 0
        self._fd = -1

    def acquire(self) -> None:
        self._rlock.acquire()
        if self._depth == 0 and self.path is not None and fcntl is not None:
            try:
                self._fd = _open(self.path)
                deadline = time.monotonic() + WRITE_WAIT_S
                while True:
                    try:
                        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                "another Candlelit process has been writing this profile for "
                                f"{WRITE_WAIT_S:.0f} s; nothing was changed, try again"
                            ) from None
                        time.sleep(0.002)
            except BaseException:
                if self._fd >= 0:
                    os.close(self._fd)
                    self._fd = -1
                self._rlock.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._rlock.release()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
