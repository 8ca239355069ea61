"""Converting a profile in place (plain <-> encrypted), recovering from an
interrupted conversion, and crypto-shredding a profile.

See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from tui.core.fsio import atomic_write, ensure_dir, fsync_dir
from tui.core.privacy.segments import Segment
from tui.core.privacy.vault import (
    FILES_DIR,
    KEY_FILE,
    RESERVED,
    UNINDEXED_DIR,
    AlreadyEncrypted,
    NotEncrypted,
    TamperedFile,
    Vault,
    VaultError,
    check_passphrase,
    install_key,
    is_encrypted,
    logical_path,
    unlock,
)


def _checkpoint(step: str) -> None:
    """Called between the steps of a conversion; a no-op.

    Tests replace it to stop the process at a chosen step and check that
    :func:`recover` loses nothing. Steps: ``"file"`` (after each file is
    staged), ``"staged"``, ``"old-moved"``, ``"swapped"``.
    """


def _stamp() -> str:
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(3)}"


def _swap_folders(profile_dir: Path) -> list[tuple[str, str, Path]]:
    """Leftover ``.<name>.{new,old,trash}-<stamp>`` siblings of a profile."""
    parent = profile_dir.parent
    pattern = re.compile(
        rf"^\.{re.escape(profile_dir.name)}\.(new|old|trash)-([0-9TZ]+-[0-9a-f]{{6}})$"
    )
    found: list[tuple[str, str, Path]] = []
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return found
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found.append((m.group(1), m.group(2), entry))
    return sorted(found, key=lambda t: (t[1], t[0]))


def _swap_path(profile_dir: Path, kind: str, stamp: str) -> Path:
    return profile_dir.parent / f".{profile_dir.name}.{kind}-{stamp}"


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path)
    fsync_dir(path.parent)


def _discard_old(profile_dir: Path, stamp: str) -> None:
    """Rename the old form to ``trash`` (atomic), then delete it.

    The rename means a crash mid-delete leaves a folder whose name says it
    is garbage, never a half-deleted "old" form that looks like a copy.
    """
    trash = _swap_path(profile_dir, "trash", stamp)
    os.rename(_swap_path(profile_dir, "old", stamp), trash)
    fsync_dir(profile_dir.parent)
    _remove_tree(trash)


def recover(profile_dir: Path) -> str | None:
    """Finish or undo a conversion that was interrupted; say what was done.

    Returns ``None`` when there was nothing to recover. Never deletes the
    only complete copy: a leftover old form is removed only when the profile
    folder holds the other form (encrypted vs plain), and when the state is
    ambiguous the folders are left for a person to look at.
    """
    profile_dir = Path(profile_dir)
    stamps: dict[str, dict[str, Path]] = {}
    for kind, stamp, path in _swap_folders(profile_dir):
        stamps.setdefault(stamp, {})[kind] = path
    if not stamps:
        return None
    done: list[str] = []
    for stamp in sorted(stamps):
        group = stamps[stamp]
        new, old, trash = group.get("new"), group.get("old"), group.get("trash")
        if trash is not None:
            _remove_tree(trash)
            done.append("finished deleting the previous form of a conversion")
        if profile_dir.exists():
            if new is not None and old is not None:
                done.append(f"left {new.name} and {old.name} in place: unclear which is current")
            elif new is not None:
                # The swap never started: the profile is the complete old form.
                _remove_tree(new)
                done.append("discarded an unfinished conversion")
            elif old is not None:
                if is_encrypted(old) != is_encrypted(profile_dir):
                    _discard_old(profile_dir, stamp)
                    done.append("removed the previous form of a finished conversion")
                else:
                    done.append(f"left {old.name} in place: it does not match a conversion")
        elif new is not None and old is not None:
            # Crash between the two renames: the staged form is complete.
            os.rename(new, profile_dir)
            fsync_dir(profile_dir.parent)
            _discard_old(profile_dir, stamp)
            done.append("finished an interrupted conversion")
        elif old is not None:
            os.rename(old, profile_dir)
            fsync_dir(profile_dir.parent)
            done.append("restored the profile from before an interrupted conversion")
        elif new is not None:
            done.append(f"left {new.name} in place: the profile folder is missing")
    return "; ".join(done)


def _walk(root: Path) -> Iterator[tuple[str, bool]]:
    """(relative posix path, is_dir) for everything under ``root``; refuse links."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise VaultError(
                    f"{rel} is a symbolic link: move the real file into the profile and try again"
                )
            if stat.S_ISDIR(mode):
                yield rel, True
            elif stat.S_ISREG(mode):
                yield rel, False
            else:
                raise VaultError(f"{rel} is not a regular file: remove it and try again")


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        fsync_dir(Path(dirpath))


def _convert(profile_dir: Path, build: Callable[[Path], None]) -> None:
    """Build the new form beside ``profile_dir`` and swap it in.

    The complete new form is built in a sibling ``.<name>.new-<time>`` (0700)
    and fsync'd, then two renames swap it in: ``<name>`` ->
    ``.<name>.old-<time>`` and ``.<name>.new-<time>`` -> ``<name>``; only then
    is the old form deleted (renamed ``.<name>.trash-<time>`` first, so a
    half-deleted copy never looks like a whole one). :func:`recover` finishes
    or undoes a swap a crash interrupted: at every instant one complete form
    is on disk. The swap folders start with a dot, so a profile lister skips
    them; call :func:`recover` for a profile before opening it.
    """
    parent = profile_dir.parent
    stamp = _stamp()
    new = _swap_path(profile_dir, "new", stamp)
    old = _swap_path(profile_dir, "old", stamp)
    os.mkdir(new, 0o700)
    fsync_dir(parent)
    try:
        build(new)
        _fsync_tree(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        fsync_dir(parent)
        raise
    _checkpoint("staged")
    os.rename(profile_dir, old)
    fsync_dir(parent)
    _checkpoint("old-moved")
    os.rename(new, profile_dir)
    fsync_dir(parent)
    _checkpoint("swapped")
    _discard_old(profile_dir, stamp)


def _existing_profile(profile_dir: Path) -> Path:
    profile_dir = Path(profile_dir)
    recover(profile_dir)
    if not profile_dir.is_dir():
        raise VaultError(f"no profile folder at {profile_dir}")
    return profile_dir


def encrypt_tree(
    profile_dir: Path, passphrase: str, *, finish: Callable[[Path], None] | None = None
) -> Vault:
    """Encrypt a plain profile in place; return its key, unlocked.

    Every file becomes ``files/<opaque>.age`` (a long ``*.jsonl``: segments);
    each one is decrypted again and compared with its source before the swap. ``finish`` gets
    the complete staged folder just before the swap (to add plain metadata
    that must be there whether or not a crash follows).
    """
    check_passphrase(passphrase)
    profile_dir = _existing_profile(profile_dir)
    if is_encrypted(profile_dir):
        raise AlreadyEncrypted(f"the profile at {profile_dir} is already encrypted")
    entries = list(_walk(profile_dir))  # refuse links before any work
    result: list[Vault] = []

    def build(staging: Path) -> None:
        vault = install_key(staging, passphrase)
        files = ensure_dir(staging / FILES_DIR)
        mapping: dict[str, str] = {}
        segments: dict[str, list[Segment]] = {}
        for rel, is_dir in entries:
            if is_dir:
                mapping[rel + "/"] = ""
                continue
            opaque = vault.opaque_name(rel)
            if rel.endswith(".jsonl"):
                closed = vault.encrypt_segments(profile_dir / rel, files, opaque)
                if closed is not None:
                    mapping[rel] = opaque
                    segments[rel] = closed
                    _checkpoint("file")
                    continue
            source_hash = vault.encrypt_file(profile_dir / rel, files / opaque)
            if vault.decrypt_file(files / opaque, None, what=rel) != source_hash:
                raise VaultError(f"{rel} did not survive encryption intact; nothing was changed")
            mapping[rel] = opaque
            _checkpoint("file")
        vault.save_index(staging, mapping, segments)
        if finish is not None:
            finish(staging)
        result.append(vault)

    _convert(profile_dir, build)
    vault = result[0]
    vault.profile_dir = profile_dir
    return vault


def _safe_target(root: Path, logical: str) -> Path:
    return root / PurePosixPath(logical_path(logical))


def decrypt_tree(
    profile_dir: Path, passphrase: str, *, finish: Callable[[Path], None] | None = None
) -> None:
    """Turn an encrypted profile back into plain files, in place.

    A wrong passphrase or a tampered file stops before anything changes.
    A segmented file becomes one plain file again (its segments joined).
    Files in ``files/`` that the index does not name are kept, decrypted,
    under ``unindexed/``; plain files beside the vault are kept as they are.
    """
    check_passphrase(passphrase)
    profile_dir = _existing_profile(profile_dir)
    if not is_encrypted(profile_dir):
        raise NotEncrypted(f"the profile at {profile_dir} is not encrypted")
    vault = unlock(profile_dir, passphrase)
    try:
        index, segments = vault.load_layout(profile_dir)
        extras = [
            (rel, is_dir)
            for rel, is_dir in _walk(profile_dir)
            if rel.split("/", 1)[0] not in RESERVED
        ]

        def build(staging: Path) -> None:
            files = profile_dir / FILES_DIR
            known: set[str] = set()
            for logical, opaque in sorted(index.items()):
                if logical.endswith("/"):
                    ensure_dir(_safe_target(staging, logical.rstrip("/")))
                    continue
                names = [seg[0] for seg in segments.get(logical, [])] + [opaque]
                if not all((files / name).is_file() for name in names):
                    raise TamperedFile(f"{logical} is listed in the index but its file is missing")
                vault.decrypt_file([files / n for n in names], _safe_target(staging, logical), what=logical)
                known.update(names)
                _checkpoint("file")
            if files.is_dir():
                for entry in sorted(files.iterdir()):
                    if entry.name in known or entry.name.endswith(".tmp"):
                        continue
                    target = staging / UNINDEXED_DIR / entry.name.removesuffix(".age")
                    vault.decrypt_file(entry, target, what=f"{FILES_DIR}/{entry.name}")
            for rel, is_dir in extras:
                target = staging / rel
                if target.exists() and not (is_dir and target.is_dir()):
                    target = staging / UNINDEXED_DIR / rel
                if is_dir:
                    ensure_dir(target)
                else:
                    atomic_write(target, (profile_dir / rel).read_bytes())
            if finish is not None:
                finish(staging)

        _convert(profile_dir, build)
    finally:
        vault.lock()


# --------------------------------------------------------------------------
# destroy


def _overwrite(path: Path) -> bool:
    """Overwrite a file with random bytes, fsync, unlink; False if absent."""
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        remaining = size
        while remaining > 0:
            chunk = secrets.token_bytes(min(remaining, 1 << 16))
            os.write(fd, chunk)
            remaining -= len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(path)
    fsync_dir(path.parent)
    return True


def crypto_shred(profile_dir: Path) -> bool:
    """Destroy the profile's key, then delete the folder (and swap leftovers).

    Returns True when a key was destroyed. Without the key, copies of the
    encrypted files that survive elsewhere (SSD blocks, backups) are
    unreadable; plain files of an unencrypted profile are only deleted (on
    SSDs, snapshots and backups old copies may survive). Old copies of
    ``vault.age`` kept elsewhere still open with the passphrase they had then.
    """
    profile_dir = Path(profile_dir)
    folders = [profile_dir] + [path for _k, _s, path in _swap_folders(profile_dir)]
    shredded = False
    for folder in folders:
        if folder.is_dir() and not folder.is_symlink():
            shredded |= _overwrite(folder / KEY_FILE)
            _remove_tree(folder)
    return shredded
