"""Shared fixtures: every test gets its own home and config; the real default
model is assembled once into the shared cache and loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui import paths

REPO = Path(__file__).resolve().parent.parent


def _shared_cache() -> Path:
    # The assembled model is 250 MB: keep it in the real user cache (or
    # CANDLELIT_CACHE when set) so the suite assembles it once per machine.
    return paths.resolve().cache


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("CANDLELIT_HOME", str(h))
    monkeypatch.setenv("CANDLELIT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("CANDLELIT_CACHE", str(_shared_cache()))
    monkeypatch.delenv("CANDLELIT_MODEL", raising=False)
    return h


@pytest.fixture(scope="session")
def model_path() -> Path:
    from tui.core.models import ensure_default_model

    return ensure_default_model(_shared_cache() / "models")


@pytest.fixture(scope="session")
def engine(model_path):
    from tui.core.engine import EngineSettings, LlamaCppEngine

    eng = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=2048))
    eng.load()
    yield eng
    eng.close()


@pytest.fixture
def cli_env(home, model_path) -> dict[str, str]:
    """Environment for running the real `candlelit` in a subprocess."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
