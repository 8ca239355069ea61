"""Versioned TOML files (chat.toml, profile.toml): read, write, upgrade.

See docs/ARCHITECTURE.md (storage).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import tomli_w

from tui.core.fsio import atomic_write
from tui.core.storage.errors import StoreError

CHAT_VERSION = 1
PROFILE_VERSION = 1


def upgrade(
    data: dict,
    steps: dict[int, Callable[[dict], dict]],
    current: int,
    what: str,
) -> dict:
    """Bring ``data`` up to version ``current`` through ``steps``, one small
    step function per version (``steps[n]`` turns version n into n+1); a
    newer version than ``current`` raises instead of guessing."""
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreError(f"{what} has an invalid version {version!r}")
    if version > current:
        raise StoreError(
            f"{what} was written by a newer Candlelit (version {version}, this one reads "
            f"up to {current}); update Candlelit to open it"
        )
    while version < current:
        data = steps[version](data)
        version = data["version"]
    return data


# Add ``n: _chat_v{n}_to_v{n+1}`` entries here when CHAT_VERSION grows.
_CHAT_UPGRADES: dict[int, Callable[[dict], dict]] = {}
_PROFILE_UPGRADES: dict[int, Callable[[dict], dict]] = {}


def upgrade_chat_toml(data: dict) -> dict:
    return upgrade(data, _CHAT_UPGRADES, CHAT_VERSION, "chat.toml")


def upgrade_profile_toml(data: dict) -> dict:
    return upgrade(data, _PROFILE_UPGRADES, PROFILE_VERSION, "profile.toml")


def read_toml(path: Path, what: str) -> dict:
    """A TOML file as a table; a clear ``StoreError`` naming ``what`` otherwise."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise StoreError(f"{what} is not valid TOML ({e}); fix or remove {path}") from None
    except UnicodeDecodeError:
        raise StoreError(f"{what} is not UTF-8 text; fix or remove {path}") from None
    except RecursionError:
        raise StoreError(f"{what} is nested too deeply to be read; fix or remove {path}") from None
    except ValueError:  # a giant integer
        raise StoreError(f"{what} holds a number too long to read; fix or remove {path}") from None
    except IsADirectoryError:
        raise StoreError(f"{what} is a folder, not a file: {path}") from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None


def write_toml(path: Path, data: dict, what: str) -> None:
    """Write ``data`` atomically (temp file, fsync, rename, folder fsync)."""
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError) as e:
        raise StoreError(f"cannot save {what}: {e}") from None
    atomic_write(path, text)


def str_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoreError(f"chat.toml: {key!r} must be a list of names")
    return list(value)
