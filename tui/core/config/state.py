"""The app's own state file (last profile used and the like), separate from config.toml.

Written atomically, mode 0600; a missing or corrupt file reads as empty.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from tui.core import fsio


def load_state(path: Path) -> dict[str, Any]:
    """The state table; ``{}`` if the file is missing, unreadable or corrupt."""
    try:
        return tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` atomically as TOML, mode 0600 (folders 0700)."""
    fsio.atomic_write(Path(path), tomli_w.dumps(dict(state)))


def update_state(path: Path, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the state file and return the new state.

    A change whose value is ``None`` removes that key (TOML has no null).
    """
    state = load_state(path)
    for key, value in changes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    save_state(path, state)
    return state
