"""Build a loaded engine from settings: the one place that picks the engine
class (llama.cpp in-process today; server engines plug in here)."""

from __future__ import annotations

from tui.core.engine.api import Engine
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.settings import EngineSettings


def open_engine(settings: EngineSettings) -> Engine:
    """A loaded engine for ``settings`` (blocks while the model loads).
    Raises ``EngineError`` (a clear line) when it cannot load; nothing is
    left running then."""
    engine = LlamaCppEngine(settings)
    try:
        engine.load()
    except BaseException:
        engine.close()
        raise
    return engine
