"""Profiles: separate spaces in one installation, one folder each.

Listing, creating, the shared flag, and deleting (with the honest caveat,
:func:`deletion_caveat`). See docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from tui.core.config.state import load_state, save_state
from tui.core.errors import CandlelitError
from tui.core.fsio import as_path, atomic_write, ensure_dir, fsync_dir
from tui.core.paths import Paths
from tui.core.privacy import convert, vault
from tui.core.storage.locks import exclusive_profile, forget_locks
from tui.core.storage.model import utc_now
from tui.core.storage.toml_files import PROFILE_VERSION

__all__ = [
    "DeleteReport",
    "InvalidProfileName",
    "ProfileError",
    "ProfileExists",
    "ProfileInfo",
    "ProfileNotFound",
    "USAGE_FILE",
    "check_name",
    "create_profile",
    "deletion_caveat",
    "decrypt_profile",
    "delete_profile",
    "encrypt_profile",
    "list_profiles",
    "plain_data_files",
    "profile_info",
    "read_reminders",
    "rename_profile",
    "save_reminders",
    "set_shared",
    "usage_file",
]

USAGE_FILE = "usage.jsonl"
PROFILE_FILE = "profile.toml"
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STAGING_PREFIX = ".creating-"
_DOOMED_PREFIX = ".deleted-"
_STALE_STAGING_S = 600
_VAULT_NAMES = frozenset({vault.KEY_FILE, vault.META_FILE, vault.INDEX_FILE, vault.FILES_DIR, vault.LOCK_FILE})


class ProfileError(CandlelitError):
    """A profile problem the user can act on; ``str()`` is one clear line."""


class InvalidProfileName(ProfileError):
    """A name that is not letters, digits, ``-`` and ``_``."""


class ProfileNotFound(ProfileError):
    """No profile of that name."""


class ProfileExists(ProfileError):
    """A profile of that name is already there."""


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    path: Path
    encrypted: bool
    shared: bool
    chats: int | None  # None: encrypted, unknown until it is unlocked
    characters: int | None
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "encrypted": self.encrypted,
            "shared": self.shared,
            "chats": self.chats,
            "characters": self.characters,
            "problem": self.problem or None,
        }


@dataclass(frozen=True)
class DeleteReport:
    name: str
    encrypted: bool
    key_destroyed: bool


# --------------------------------------------------------------------------
# names and small helpers


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid profile name, else raise."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidProfileName(
            f"invalid profile name {name!r}: use 1 to 64 letters, digits, '-' and '_'"
        )
    return name


def usage_file(profile_dir: Path) -> Path:
    """Where a profile keeps its local usage stats."""
    return as_path(profile_dir) / USAGE_FILE


def _count_dirs(folder: Path) -> int:
    try:
        return sum(1 for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return 0


def _read_profile_toml(profile_dir: Path) -> tuple[dict[str, Any], str]:
    path = as_path(profile_dir) / PROFILE_FILE
    try:
        return tomllib.loads(path.read_text("utf-8")), ""
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return {}, f"{PROFILE_FILE} is unreadable ({exc.__class__.__name__})"


def _write_profile_toml(profile_dir: Path, data: dict[str, Any]) -> None:
    version = data.get("version", PROFILE_VERSION)
    if isinstance(version, int) and version > PROFILE_VERSION:
        raise ProfileError(
            f"{PROFILE_FILE} was written by a newer Candlelit (version {version}); update Candlelit"
        )
    atomic_write(as_path(profile_dir) / PROFILE_FILE, tomli_w.dumps({**data, "version": PROFILE_VERSION}))


def _recover_all(root: Path) -> None:
    """Finish or undo interrupted encrypt/decrypt swaps (``.<name>.new-…``)."""
    try:
        names = {
            m.group(1)
            for e in os.scandir(root)
            if (m := re.match(r"^\.([A-Za-z0-9_-]{1,64})\.(?:new|old|trash)-", e.name))
        }
    except OSError:
        return
    for name in sorted(names):
        convert.recover(root / name)


def _sweep(root: Path) -> None:
    """Remove leftovers of a create or delete that a crash interrupted."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    now = time.time()
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            continue
        if e.name.startswith(_DOOMED_PREFIX):
            convert.crypto_shred(Path(e.path))
        elif e.name.startswith(_STAGING_PREFIX):
            try:
                old = now - e.stat(follow_symlinks=False).st_mtime > _STALE_STAGING_S
            except OSError:
                old = False
            if old:
                convert.crypto_shred(Path(e.path))


def _forget_in_state(paths: Paths, name: str, new_name: str | None = None) -> None:
    """Drop (or rename) what ``state.toml`` remembers about a profile."""
    if not paths.state_file.exists():
        return
    state = load_state(paths.state_file)
    if state.get("profile") != name:
        return
    if new_name is None:
        for key in ("profile", "last_chat", "last_character"):
            state.pop(key, None)
    else:
        state["profile"] = new_name
    save_state(paths.state_file, state)


def _forget_last_opened(paths: Paths, name: str) -> None:
    """An encrypted profile's last chat and character are not kept in the
    plain state file (they name what is inside)."""
    if not paths.state_file.exists():
        return
    state = load_state(paths.state_file)
    if state.get("profile") == name and ({"last_chat", "last_character"} & state.keys()):
        for key in ("last_chat", "last_character"):
            state.pop(key, None)
        save_state(paths.state_file, state)


# --------------------------------------------------------------------------
# reading


def profile_info(paths: Paths, name: str) -> ProfileInfo:
    """What a profile is: encrypted or not, shared or not, how much is in it."""
    check_name(name)
    folder = paths.profile(name)
    if not folder.is_dir() or folder.is_symlink():
        raise ProfileNotFound(f"no profile '{name}' (see `candlelit profile list`)")
    if vault.is_encrypted(folder):
        try:
            shared, problem = vault.read_meta(folder).get("shared") is True, ""
        except vault.VaultError as exc:
            shared, problem = False, str(exc)
        return ProfileInfo(name, folder, True, shared, None, None, problem)
    data, problem = _read_profile_toml(folder)
    return ProfileInfo(
        name=name,
        path=folder,
        encrypted=False,
        shared=data.get("shared") is True,
        chats=_count_dirs(folder / "chats"),
        characters=_count_dirs(folder / "characters"),
        problem=problem,
    )


def list_profiles(paths: Paths) -> list[ProfileInfo]:
    """Every profile, by name. Finishes interrupted conversions first."""
    root = paths.profiles
    if not root.is_dir():
        return []
    _recover_all(root)
    out: list[ProfileInfo] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        if not _NAME_RE.fullmatch(entry.name):
            continue
        out.append(profile_info(paths, entry.name))
    return out


def plain_data_files(profile_dir: Path) -> int:
    """How many files of the profile are stored unencrypted (vault files aside)."""
    root = Path(profile_dir)
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in _VAULT_NAMES]
            filenames = [f for f in filenames if f not in _VAULT_NAMES]
        count += len(filenames)
    return count


def deletion_caveat(info: ProfileInfo) -> str:
    """The honest sentence about what deleting this profile can promise."""
    base = (
        "Its files are removed from this computer, but on SSDs, in filesystem "
        "snapshots and in backups old copies can survive."
    )
    if not info.encrypted:
        return base
    if plain_data_files(info.path):
        return (
            base + " Its key file is overwritten and removed first, but some files in its folder are not "
            "encrypted (left from before it was encrypted, or put there by hand), so "
            "surviving copies of those stay readable."
        )
    return base + (
        " Its key file is overwritten and removed first, but an SSD or a snapshot may keep an old copy"
        " of the key file too, and that copy still opens with the passphrase: surviving encrypted files"
        " are safe from anyone who does not know it."
    )


# --------------------------------------------------------------------------
# changing


def create_profile(
    paths: Paths, name: str, *, shared: bool = False, passphrase: str | None = None
) -> ProfileInfo:
    """Create an empty profile (with a passphrase-protected key if given).

    Built in a hidden staging folder and renamed into place, so the profile
    appears complete or not at all.
    """
    check_name(name)
    root = ensure_dir(paths.profiles)
    _recover_all(root)
    _sweep(root)
    final = paths.profile(name)
    if final.exists() or final.is_symlink():
        raise ProfileExists(f"a profile named '{name}' already exists")
    if passphrase is not None and passphrase == "":
        raise ProfileError("the passphrase must not be empty")
    staging = root / f"{_STAGING_PREFIX}{name}-{secrets.token_hex(3)}"
    os.mkdir(staging, 0o700)
    try:
        data = {"version": PROFILE_VERSION, "created": utc_now(), "shared": bool(shared)}
        if passphrase is None:
            _write_profile_toml(staging, data)
        else:
            from tui.core.privacy.sealed_fs import SealedFS

            key = vault.create_vault(staging, passphrase)
            vault.set_shared(staging, shared)
            sealed = SealedFS(key)
            try:
                _write_profile_toml(sealed.root, data)
            finally:
                sealed.lock()
        if final.exists():
            raise ProfileExists(f"a profile named '{name}' already exists")
        os.rename(staging, final)
    except BaseException:
        convert.crypto_shred(staging)
        raise
    fsync_dir(root)
    return profile_info(paths, name)


def rename_profile(paths: Paths, old: str, new: str) -> ProfileInfo:
    """Rename a profile folder (an encrypted one keeps working: its names
    inside do not depend on the profile's name)."""
    check_name(old)
    check_name(new)
    root = paths.profiles
    if root.is_dir():
        _recover_all(root)
    source, target = paths.profile(old), paths.profile(new)
    if not source.is_dir() or source.is_symlink():
        raise ProfileNotFound(f"no profile '{old}' (see `candlelit profile list`)")
    if old == new:
        return profile_info(paths, new)
    if target.exists() or target.is_symlink():
        raise ProfileExists(f"a profile named '{new}' already exists")
    with exclusive_profile(source), exclusive_profile(target):
        os.rename(source, target)
        fsync_dir(root)
        _forget_in_state(paths, old, new)
        forget_locks(source)
    return profile_info(paths, new)


def set_shared(paths: Paths, name: str, shared: bool) -> ProfileInfo:
    """Mark a profile as the couple's shared profile (or not)."""
    info = profile_info(paths, name)
    if info.encrypted:
        vault.set_shared(info.path, shared)
        return profile_info(paths, name)
    data, problem = _read_profile_toml(info.path)
    if problem:
        raise ProfileError(f"profile '{name}': {problem}; fix or remove it first")
    data.setdefault("version", PROFILE_VERSION)
    data["shared"] = bool(shared)
    _write_profile_toml(info.path, data)
    return profile_info(paths, name)


def delete_profile(paths: Paths, name: str) -> DeleteReport:
    """Remove the profile and everything of it under the data folder."""
    check_name(name)
    root = paths.profiles
    if root.is_dir():
        _recover_all(root)
    folder = paths.profile(name)
    if not folder.is_dir() or folder.is_symlink():
        raise ProfileNotFound(f"no profile '{name}' (see `candlelit profile list`)")
    encrypted = vault.is_encrypted(folder)
    with exclusive_profile(folder):  # refused while the app or a command has it open
        doomed = root / f"{_DOOMED_PREFIX}{name}-{secrets.token_hex(3)}"
        os.rename(folder, doomed)  # out of every listing at once
        fsync_dir(root)
        destroyed = convert.crypto_shred(doomed)
        destroyed |= convert.crypto_shred(folder)  # conversion leftovers of this name, if any
        _sweep(root)
        _forget_in_state(paths, name)
        forget_locks(folder)
    return DeleteReport(name=name, encrypted=encrypted, key_destroyed=destroyed)


def encrypt_profile(paths: Paths, name: str, passphrase: str) -> ProfileInfo:
    """Encrypt a plain profile in place (nothing lost if interrupted: the
    complete encrypted form is built beside it, then swapped in)."""
    info = profile_info(paths, name)
    if info.encrypted:
        raise ProfileError(f"profile '{name}' is already encrypted")
    if passphrase == "":
        raise ProfileError("the passphrase must not be empty")
    shared = info.shared
    with exclusive_profile(info.path):  # refused while the app or a command has it open
        convert.encrypt_tree(info.path, passphrase, finish=lambda staged: vault.set_shared(staged, shared)).lock()
        _forget_last_opened(paths, name)
    return profile_info(paths, name)


def decrypt_profile(paths: Paths, name: str, passphrase: str) -> ProfileInfo:
    """Turn an encrypted profile back into plain files, in place."""
    info = profile_info(paths, name)
    if not info.encrypted:
        raise ProfileError(f"profile '{name}' is not encrypted")
    def finish(staged: Path) -> None:
        # the shared mark lived in vault.toml: carry it into the plain profile.toml
        data, problem = _read_profile_toml(staged)
        if not problem and data.get("shared", False) is not info.shared:
            data["shared"] = info.shared
            _write_profile_toml(staged, data)

    with exclusive_profile(info.path):
        convert.decrypt_tree(info.path, passphrase, finish=finish)
    return profile_info(paths, name)


# --------------------------------------------------------------------------
# per-profile reminders (opt-in; the defaults come from [privacy])


def read_reminders(profile_dir: Path, privacy: Any) -> dict[str, Any]:
    """This profile's reminder settings: ``[reminders]`` in its profile.toml
    over the ``[privacy]`` defaults. Keys as for
    :meth:`tui.core.profile.usage_stats.ReminderSettings.from_mapping`."""
    data, _problem = _read_profile_toml(profile_dir)
    own = data.get("reminders")
    own = own if isinstance(own, dict) else {}
    minutes = own.get("session_minutes", privacy.reminder_session_minutes)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        minutes = None
    late = own.get("late_night", privacy.reminder_late_night)
    return {
        "session_minutes": minutes,
        "late_night": late is True,
        "night_start": privacy.night_start,
        "night_end": privacy.night_end,
    }


def save_reminders(profile_dir: Path, *, session_minutes: int, late_night: bool) -> None:
    """Store this profile's own reminder choice (0 minutes = off)."""
    if isinstance(session_minutes, bool) or not isinstance(session_minutes, int) or session_minutes < 0:
        raise ProfileError("session_minutes must be a whole number of at least 0")
    data, problem = _read_profile_toml(profile_dir)
    if problem:
        raise ProfileError(f"{problem}; fix or remove it first")
    data.setdefault("version", PROFILE_VERSION)
    data["reminders"] = {"session_minutes": session_minutes, "late_night": bool(late_night)}
    ensure_dir(as_path(profile_dir))
    _write_profile_toml(as_path(profile_dir), data)
