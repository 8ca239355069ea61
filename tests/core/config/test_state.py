"""Tests for tui.core.config.state: the app's own state file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tui.core.config.load import load_config
from tui.core.config.state import load_state, save_state, update_state

# ---------------------------------------------------------------- state file


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.toml"
    state = {"last_profile": "default", "window": {"width": 120}, "recent": ["a", "b"]}
    save_state(path, state)
    assert load_state(path) == state


def test_state_file_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "state.toml"
    save_state(path, {"a": 1})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    update_state(path, b=2)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert load_state(tmp_path / "state.toml") == {}


@pytest.mark.parametrize("payload", [b"this = is = not toml\n", b"\xff\xfe\x00garbage", b"[a]\nb = \n"])
def test_corrupt_state_is_empty_and_gets_rewritten(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "state.toml"
    path.write_bytes(payload)
    assert load_state(path) == {}
    assert update_state(path, last_profile="p1") == {"last_profile": "p1"}
    assert load_state(path) == {"last_profile": "p1"}


def test_update_state_merges_and_none_removes(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    update_state(path, a=1, b="two")
    assert update_state(path, b=None, c=True) == {"a": 1, "c": True}
    assert load_state(path) == {"a": 1, "c": True}


def test_state_never_touches_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[sampling]\nseed = 3\n", encoding="utf-8")
    before = config.read_bytes()
    update_state(tmp_path / "state.toml", seed=99)
    assert config.read_bytes() == before
    assert load_config(config).sampling.seed == 3
