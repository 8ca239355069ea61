"""The configuration model: one frozen dataclass per ``config.toml`` section.

Each field's type hint says what TOML type it takes; its ``metadata`` holds the
one-line doc and the rules :mod:`tui.core.config.validate` checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHAT_FORMATS = (
    "auto",
    "transcript",
    "embedded",
    "chatml",
    "llama3",
    "mistral",
    "gemma",
    "alpaca",
)


def _opt(default: Any, doc: str, **rules: Any) -> Any:
    """A dataclass field with a default, a one-line doc and validation rules."""
    return field(default=default, metadata={"doc": doc, **rules})


# --------------------------------------------------------------------------
# The model: one frozen dataclass per [section]
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: which GGUF to load and how llama.cpp runs it."""

    path: str = _opt("", 'a local GGUF file; "" = the bundled default model')
    chat_format: str = _opt("auto", "how turns are laid out for the model", choices=CHAT_FORMATS)
    n_ctx: int = _opt(4096, "context window in tokens", ge=256)
    n_gpu_layers: int = _opt(0, "layers offloaded to the GPU; -1 = all", ge=-1)
    n_threads: int = _opt(0, "threads for generation; 0 = all physical cores", ge=0)
    n_threads_batch: int = _opt(0, "threads for prompt processing; 0 = auto", ge=0)
    n_batch: int = _opt(512, "prompt tokens processed per batch", ge=1)
    flash_attn: bool = _opt(
        False,
        "use flash attention (1.12x faster prompt reading on CPU, "
        "but a cached prompt no longer gives bit-identical replies)",
    )


ENGINE_KINDS = ("local", "llama-server", "openai")


@dataclass(frozen=True)
class EngineConfig:
    """``[engine]``: llama.cpp in this process, or the user's own server."""

    kind: str = _opt(
        "local", "local = llama.cpp in this process; llama-server or openai = your own server", choices=ENGINE_KINDS
    )
    url: str = _opt("", "the server, e.g. http://127.0.0.1:8080 (kind llama-server or openai)", single_line=True)
    api_key_file: str = _opt("", "a file (mode 0600) holding the server's API key", single_line=True)
    api_key_env: str = _opt("", "or an environment variable holding it", single_line=True)
    allow_remote: bool = _opt(False, "allow a server outside this machine and your local network (https only)")
    connect_timeout_s: float = _opt(5.0, "seconds to wait for the server to accept a connection", gt=0)
    read_timeout_s: float = _opt(600.0, "seconds to wait for the server's next token", gt=0)
    chat_slot: int = _opt(0, "llama-server: the slot that keeps the chat's cache", ge=0)
    model: str = _opt("", 'openai: the model to ask for; "" = the first the server lists', single_line=True)
    tokenizer: str = _opt(
        "", 'openai: a local GGUF of the model for exact token counts; "estimate" = never ask the server',
        single_line=True,
    )


@dataclass(frozen=True)
class SamplingConfig:
    """``[sampling]``: how the next token is picked."""

    temperature: float = _opt(0.8, "randomness; 0 = always the likeliest token", ge=0.0)
    top_p: float = _opt(0.95, "nucleus sampling cut-off", gt=0.0, le=1.0)
    top_k: int = _opt(40, "keep only the k likeliest tokens; 0 = off", ge=0)
    min_p: float = _opt(0.05, "drop tokens below this share of the likeliest", ge=0.0, le=1.0)
    repeat_penalty: float = _opt(1.1, "penalty for repeating recent tokens; 1 = off", gt=0.0)
    seed: int = _opt(-1, "random seed; -1 = a new one for every reply", ge=-1, le=2**32 - 1)
    max_tokens: int = _opt(300, "longest reply, in tokens", ge=1)


@dataclass(frozen=True)
class ChatConfig:
    """``[chat]``: which profile opens and who the user is by default."""

    profile: str = _opt(
        "default",
        "profile folder name",
        pattern=r"[A-Za-z0-9_-]+",
        pattern_hint="only letters, digits, - and _",
    )
    user_name: str = _opt(
        "User", "the default persona's display name", nonblank=True, single_line=True
    )


@dataclass(frozen=True)
class PromptConfig:
    """``[prompt]``: the system preamble and the room kept for the reply."""

    system: str = _opt("", 'system preamble; "" = the built-in one')
    reply_reserve: int = _opt(0, "tokens kept free for the reply; 0 = sampling.max_tokens", ge=0)
    memory_budget: int = _opt(0, "tokens for the summary and facts; 0 = n_ctx / 8", ge=0)
    window_budget: int = _opt(
        0, "tokens for recent messages before the oldest are folded into memory; 0 = the rest", ge=0
    )
    volatile_budget: int = _opt(0, "tokens kept for triggered lore and notes; 0 = n_ctx / 16", ge=0)


@dataclass(frozen=True)
class MemoryConfig:
    """``[memory]``: the rolling summary and the KV cache around it."""

    enabled: bool = _opt(True, "fold old messages into a summary and facts as the chat grows")
    fold_fraction: float = _opt(
        0.25, "share of the window folded at once (the cut moves once per chunk)", gt=0.0, le=1.0
    )
    carry_over: bool = _opt(False, "start new chats with the character's last chat's memory")
    context_shift: str = _opt(
        "auto",
        "after a summary: shift the cached window (on), re-read it exactly in the background (off), "
        "or re-read when that takes under 3 s and shift otherwise (auto)",
        choices=("auto", "on", "off"),
    )
    save_state: bool = _opt(True, "save the chat's KV cache on exit so reopening answers fast")
    state_max_mb: int = _opt(512, "largest KV state file kept per chat, in MiB", ge=0)


@dataclass(frozen=True)
class PrivacyConfig:
    """``[privacy]``: panic key, idle lock, tripwire, usage stats, reminders."""

    panic_key: str = _opt(
        "f12",
        "the key that hides the screen at once",
        pattern=r"[a-z0-9_+]+",
        pattern_hint="a Textual key name such as f12 or ctrl+backslash",
    )
    panic_screen: str = _opt("blank", "what the panic key shows", choices=("blank", "log"))
    idle_lock_minutes: int = _opt(
        10, "encrypted profiles: lock after this many idle minutes; 0 = never", ge=0
    )
    tripwire: bool = _opt(True, "warn before sending text that looks like real identifying data")
    deny_names: tuple[str, ...] = _opt(
        (), "real names the tripwire should also catch", nonblank=True, single_line=True
    )
    clipboard_clear_s: int = _opt(
        30, "seconds after a copy before the app clears the clipboard again; 0 = never", ge=0
    )
    usage_stats: bool = _opt(True, "keep local usage stats (times and message counts only)")
    reminder_session_minutes: int = _opt(
        0, "a gentle reminder after this long in one session; 0 = off", ge=0
    )
    reminder_late_night: bool = _opt(False, "a gentle reminder late at night")
    night_start: str = _opt(
        "23:00", "when late night starts", pattern=r"([01]\d|2[0-3]):[0-5]\d", pattern_hint="HH:MM"
    )
    night_end: str = _opt(
        "05:00", "when late night ends", pattern=r"([01]\d|2[0-3]):[0-5]\d", pattern_hint="HH:MM"
    )


@dataclass(frozen=True)
class Config:
    """The whole configuration; every section has complete defaults."""

    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
