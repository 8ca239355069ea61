"""Shared fixtures: every test gets its own home and config; the real default
model is assembled once into the shared cache and loaded once per session."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tui.core import paths
from tui.core.engine.api import GenerationRequest
from tui.core.engine.scripted import ScriptedEngine

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
    from tui.core.engine.model_files import ensure_default_model

    return ensure_default_model(_shared_cache() / "models")


@pytest.fixture(scope="session")
def engine(model_path):
    from tui.core.engine.llama import LlamaCppEngine
    from tui.core.engine.settings import EngineSettings

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


# The scripted engine drives deterministic UI layout tests; the real model is
# covered by tests/engine and the end-to-end tests.
@pytest.fixture
def scripted():
    return ScriptedEngine


class RecordingEngine:
    """A real engine that remembers every request (and can look at the disk
    before each one) — a spy, not a fake: generation is real."""

    def __init__(self, engine, before_stream=None) -> None:
        self.engine = engine
        self.before_stream = before_stream
        self.requests: list[GenerationRequest] = []

    def stream(self, request, cancel=None):
        if self.before_stream is not None:
            self.before_stream()
        self.requests.append(request)
        return self.engine.stream(request, cancel)

    def prompt_text(self, i: int = -1) -> str:
        return self.engine.detokenize(self.requests[i].tokens)

    def close(self) -> None:
        pass  # the real engine is shared; it stays open

    def __getattr__(self, name: str):
        # the rest of the Engine protocol goes to the real engine unchanged
        return getattr(self.engine, name)


async def wait_until(pilot, predicate, timeout: float = 5.0) -> None:
    """Poll the app until ``predicate()`` holds (single pauses are flaky)."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture
def fast_kdf(monkeypatch):
    """age's scrypt takes seconds per unlock; the vault's key logic is the same
    with this fast stand-in (same file header, same wrong-passphrase error)."""
    import hashlib

    from tui.core.privacy import vault

    def seal(secret: bytes, passphrase: str) -> bytes:
        tag = hashlib.sha256(passphrase.encode()).hexdigest().encode()
        return b"age-encryption.org/v1\n-> scrypt FAKE\n" + tag + b"\n" + secret

    def open_(blob: bytes, passphrase: str) -> bytes:
        _magic, _stanza, tag, secret = blob.split(b"\n", 3)
        if tag != hashlib.sha256(passphrase.encode()).hexdigest().encode():
            raise vault.WrongPassphrase("wrong passphrase: the profile stays locked")
        return secret

    monkeypatch.setattr(vault, "_seal_secret", seal)
    monkeypatch.setattr(vault, "_open_secret", open_)


def sigint_as_in_a_terminal() -> None:
    """In the child, before exec: SIGINT back to its default action.

    A test run started in the background by a non-interactive shell
    (``cmd &`` in a script, ``(cmd &)``, ``nohup``, ``setsid``) has SIGINT
    ignored, and an ignored signal stays ignored across fork and exec. Python
    then installs no KeyboardInterrupt handler, so the child would never see
    the Ctrl+C this test sends and would finish its reply with exit 0. A
    command started from a terminal has SIGINT at its default; so does this one.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
