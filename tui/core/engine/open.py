"""Build a loaded engine from settings: the one place that picks the engine
class (llama.cpp in-process, or the user's own server)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tui.core.config.schema import EngineConfig
from tui.core.engine.api import Engine, EngineError
from tui.core.engine.http import ServerSettings
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.openai import OpenAIEngine
from tui.core.engine.server import LlamaServerEngine
from tui.core.engine.settings import EngineSettings


def read_api_key(cfg: EngineConfig) -> str:
    """The server's API key from ``api_key_file`` (mode 0600 or stricter)
    or ``api_key_env``; "" when neither is set. The key is never shown."""
    if cfg.api_key_file:
        path = Path(cfg.api_key_file).expanduser()
        try:
            st = path.stat()
            if stat.S_IMODE(st.st_mode) & 0o077:
                raise EngineError(f"{path} can be read by other users: chmod 600 it first")
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EngineError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise EngineError(f"the API key file {path} is not text") from None
        if not key:
            raise EngineError(f"the API key file {path} is empty")
        return key
    if cfg.api_key_env:
        key = os.environ.get(cfg.api_key_env, "").strip()
        if not key:
            raise EngineError(f"the environment variable {cfg.api_key_env} (api_key_env) is not set")
        return key
    return ""


def server_settings(cfg: EngineConfig) -> ServerSettings:
    if not cfg.url:
        raise EngineError(f'[engine] kind = "{cfg.kind}" needs a url, e.g. url = "http://127.0.0.1:8080"')
    return ServerSettings(
        url=cfg.url,
        api_key=read_api_key(cfg),
        allow_remote=cfg.allow_remote,
        connect_timeout=cfg.connect_timeout_s,
        read_timeout=cfg.read_timeout_s,
        chat_slot=cfg.chat_slot,
        kind=cfg.kind,
        model=cfg.model,
        tokenizer=cfg.tokenizer,
    )


def open_engine(settings: EngineSettings | ServerSettings, *, n_ctx: int = 4096) -> Engine:
    """A loaded engine for ``settings`` (blocks while the model loads or the
    server answers). Raises ``EngineError`` (a clear line) when it cannot;
    nothing is left running then."""
    engine: LlamaCppEngine | LlamaServerEngine | OpenAIEngine
    if isinstance(settings, EngineSettings):
        engine = LlamaCppEngine(settings)
    elif settings.kind == "openai":
        engine = OpenAIEngine(settings, n_ctx)  # n_ctx: when the server does not say its own
    else:
        engine = LlamaServerEngine(settings)
    try:
        engine.load()
    except BaseException:
        engine.close()
        raise
    return engine
