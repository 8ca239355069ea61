"""Shared by the chat-file tests: SillyTavern fixtures, a workspace with Seraphina, a pinned time zone."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import ScriptedEngine

from tui.core import paths
from tui.core.cards.library import import_card_file
from tui.core.config.schema import Config
from tui.core.engine.api import ModelInfo
from tui.core.profile.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "st"


@pytest.fixture
def utc(monkeypatch):
    """Humanized SillyTavern dates are local time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def w(home, tmp_path, utc) -> Workspace:
    ws = Workspace(paths.resolve(), Config())
    ws.install_starters()
    card = tmp_path / "seraphina.json"
    card.write_text(json.dumps({
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {"name": "Seraphina", "description": "Seraphina is an adult forest guardian.",
                 "personality": "kind, protective", "first_mes": "Welcome, traveller."},
    }), encoding="utf-8")
    assert import_card_file(ws.store, card).slug == "seraphina"
    return ws


def st_lines(text: str) -> list[dict]:
    """What SillyTavern reads: each non-empty line parsed (it splits on "\\n")."""
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def fixture_lines(name: str) -> list[dict]:
    return st_lines((FIXTURES / name).read_text(encoding="utf-8"))


def big_engine() -> ScriptedEngine:
    eng = ScriptedEngine()
    eng._info = ModelInfo(Path("/nonexistent/scripted.gguf"), "Scripted", 32768, 32768, None, "<bos>", "<eos>", False)
    return eng
