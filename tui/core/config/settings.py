"""Typed, validated configuration (config.toml) and the app's own state file.

The user's ``config.toml`` is read-only to Candlelit: it is parsed with
``tomllib`` into frozen dataclasses, one per ``[section]``. Validation is
generic: each field's type hint says what TOML type it takes, and the
field's ``metadata`` carries its documented rules (``ge``/``gt``/``le``/``lt``
bounds, ``choices``, ``pattern``, ``nonblank``, ``single_line``). Adding a section means adding
a dataclass and a field on :class:`Config`; nothing else changes.

Every problem is reported as a :class:`ConfigError` whose text is one line,
``<file>:<line>: <problem>``. ``tomllib`` reports the line of syntax errors;
for semantic errors (unknown key, wrong type, out of range) a small scanner
over the text finds the line of the offending key.

Settings the app changes itself (last profile used and the like) live in a
separate state file written with ``tomli_w`` through ``tui.core.fsio``
(mode 0600). A corrupt state file is treated as empty: the app rewrites it.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import dataclasses
import difflib
import json
import math
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tui.core import fsio

__all__ = [
    "CHAT_FORMATS",
    "ChatConfig",
    "Config",
    "ConfigError",
    "ModelConfig",
    "PrivacyConfig",
    "PromptConfig",
    "SamplingConfig",
    "config_as_dict",
    "load_config",
    "load_config_text",
    "load_state",
    "replace",
    "save_state",
    "update_state",
]

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
    flash_attn: bool = _opt(False, "use flash attention (1.12x faster prompt reading on CPU, but a cached prompt no longer gives bit-identical replies)")


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
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class ConfigError(CandlelitError):
    """A problem with the user's configuration; ``str()`` is one line.

    Formatted ``<source>:<line>: <problem>``; the line is left out only when
    it is truly unknown, the source only when there is none (overrides).
    """

    def __init__(self, problem: str, source: str | None = None, line: int | None = None) -> None:
        self.problem = " ".join(problem.split())
        self.source = source
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.source is None:
            return self.problem
        if self.line is None:
            return f"{self.source}: {self.problem}"
        return f"{self.source}:{self.line}: {self.problem}"

    def __str__(self) -> str:
        return self._format()


class _Invalid(Exception):
    """Internal: a semantic problem at a key path, before we know its line."""

    def __init__(self, path: tuple[str, ...], problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


# --------------------------------------------------------------------------
# Generic validation driven by the dataclass fields
# --------------------------------------------------------------------------

_TOML_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    list: "an array",
    dict: "a table",
}


def _show(value: Any) -> str:
    """A short, one-line, TOML-flavoured rendering of a value for messages."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 42 else text[:38] + '..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    for kind, name in _TOML_TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return "a date/time" if hasattr(value, "isoformat") else type(value).__name__


def _section_name(path: tuple[str, ...]) -> str:
    return "[" + ".".join(path) + "]"


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], type]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def _suggest(word: str, options: typing.Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def _check_type(where: str, kind: type, value: Any) -> Any:
    """Return ``value`` converted to ``kind`` or raise ``ValueError(problem)``."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be true or false, got {_show(value)}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be a whole number, got {_show(value)}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"{where} must be a finite number, got {_show(value)}")
            return number
        raise ValueError(f"{where} must be a number, got {_show(value)}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} must be a string, got {_show(value)}")
    if typing.get_origin(kind) is tuple:  # tuple[str, ...]: a TOML array of strings
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"{where} must be an array of strings, got {_show(value)}")
    raise TypeError(f"unsupported config field type {kind!r}")  # a bug in this module


def _fmt_num(x: float | int) -> str:
    return repr(int(x)) if isinstance(x, float) and x.is_integer() else repr(x)


def _check_rules(where: str, meta: Mapping[str, Any], value: Any, written: Any) -> None:
    """Apply the field's documented rules to ``value``; raise ``ValueError(problem)``.

    ``written`` is the value as the user wrote it (before int -> float), for messages.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bounds = []
        ok = True
        if "ge" in meta:
            bounds.append(f"at least {_fmt_num(meta['ge'])}")
            ok = ok and value >= meta["ge"]
        if "gt" in meta:
            bounds.append(f"greater than {_fmt_num(meta['gt'])}")
            ok = ok and value > meta["gt"]
        if "le" in meta:
            bounds.append(f"at most {_fmt_num(meta['le'])}")
            ok = ok and value <= meta["le"]
        if "lt" in meta:
            bounds.append(f"less than {_fmt_num(meta['lt'])}")
            ok = ok and value < meta["lt"]
        if not ok:
            raise ValueError(f"{where} must be {' and '.join(bounds)}, got {_show(written)}")
    if isinstance(value, str):
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            listed = ", ".join(json.dumps(c) for c in choices)
            hint = _suggest(value.lower(), choices)
            extra = f" (did you mean {json.dumps(hint)}?)" if hint else ""
            raise ValueError(f"{where} must be one of {listed}, got {_show(value)}{extra}")
        pattern = meta.get("pattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            hint = meta.get("pattern_hint", f"match {pattern}")
            raise ValueError(f"{where} must be non-empty and use {hint}, got {_show(value)}")
        if meta.get("nonblank") and not value.strip():
            raise ValueError(f"{where} must not be empty")
        if meta.get("single_line") and any(ch in value for ch in "\r\n"):
            raise ValueError(f"{where} must be on one line, got {_show(value)}")
    if isinstance(value, tuple):  # each item of an array of strings
        for item in value:
            _check_rules(where + " items", meta, item, item)


def _build_section(name: str, cls: type, raw: Any, *, check_unknown: bool = True) -> Any:
    """Validate a raw mapping against section dataclass ``cls``; return an instance."""
    if not isinstance(raw, Mapping):
        raise _Invalid(
            (name,), f"[{name}] must be a table (a [{name}] section), got {_show(raw)}"
        )
    spec = _fields(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in spec:
            raise _Invalid((name, key), _unknown_key_problem(name, key, spec))
        fld, kind = spec[key]
        where = f"[{name}] {key}"
        try:
            converted = _check_type(where, kind, value)
            _check_rules(where, fld.metadata, converted, value)
        except ValueError as exc:
            raise _Invalid((name, key), str(exc)) from None
        values[key] = converted
    return cls(**values)


def _unknown_key_problem(section: str, key: str, spec: Mapping[str, Any]) -> str:
    problem = f"unknown key {json.dumps(key, ensure_ascii=False)} in [{section}]"
    hint = _suggest(key, spec)
    if hint:
        return f"{problem} (did you mean {json.dumps(hint)}?)"
    for other, cls in _sections().items():
        if other != section and key in _fields(cls):
            return f"{problem} (it belongs in [{other}])"
    return f"{problem} (known keys: {', '.join(spec)})"


def _unknown_section_problem(name: str, value: Any) -> str:
    sections = _sections()
    if not isinstance(value, Mapping):
        # A bare top-level key such as ``temperature = 0.7``.
        problem = f"unknown top-level key {json.dumps(name, ensure_ascii=False)}"
        for section, cls in sections.items():
            if name in _fields(cls):
                return f"{problem} (put it under [{section}])"
        return f"{problem} (settings go in sections: {', '.join(f'[{s}]' for s in sections)})"
    problem = f"unknown section [{name}]"
    hint = _suggest(name, sections)
    if hint:
        return f"{problem} (did you mean [{hint}]?)"
    return f"{problem} (sections are {', '.join(f'[{s}]' for s in sections)})"


def _build_config(data: Mapping[str, Any]) -> Config:
    sections = _sections()
    built: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in sections:
            raise _Invalid((name,), _unknown_section_problem(name, raw))
        built[name] = _build_section(name, sections[name], raw)
    return Config(**built)


# --------------------------------------------------------------------------
# Finding the line of a key in TOML text
# --------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _KeyScanner:
    """Map key paths to the line they are written on.

    Runs only on text ``tomllib`` has already accepted, so it can be simple.
    Tracks ``[table]`` / ``[[array]]`` headers, dotted and quoted keys, and
    keys inside inline tables; skips strings (including multi-line ones) and
    arrays that span lines.
    """

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.keys: dict[tuple[str, ...], int] = {}
        self.tables: dict[tuple[str, ...], int] = {}

    # -- low-level movement --
    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def _advance(self, n: int = 1) -> None:
        chunk = self.s[self.i : self.i + n]
        self.line += chunk.count("\n")
        self.i += len(chunk)

    def _skip_ws(self) -> None:
        while self._peek() in (" ", "\t"):
            self._advance()

    def _skip_comment(self) -> None:
        if self._peek() == "#":
            while self._peek() not in ("\n", ""):
                self._advance()

    def _skip_blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays, between lines)."""
        while True:
            c = self._peek()
            if c in (" ", "\t", "\r", "\n"):
                self._advance()
            elif c == "#":
                self._skip_comment()
            else:
                return

    # -- tokens --
    def _string(self) -> str:
        """Consume a string token; return its raw text (quotes included)."""
        start = self.i
        quote = self._peek()
        if self.s.startswith(quote * 3, self.i):
            self._advance(3)
            while self.i < len(self.s):
                if quote == '"' and self._peek() == "\\":
                    self._advance(2)
                elif self.s.startswith(quote * 3, self.i):
                    self._advance(3)
                    while self._peek() == quote:  # up to two quotes of content
                        self._advance()
                    break
                else:
                    self._advance()
        else:
            self._advance()
            while self.i < len(self.s) and self._peek() not in (quote, "\n"):
                if quote == '"' and self._peek() == "\\":
                    self._advance()
                self._advance()
            self._advance()
        return self.s[start : self.i]

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_ws()
            c = self._peek()
            if c in ('"', "'"):
                raw = self._string()
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError("expected a key")
                parts.append(m.group(0))
                self._advance(m.end() - self.i)
            self._skip_ws()
            if self._peek() != ".":
                return tuple(parts)
            self._advance()

    def _value(self, path: tuple[str, ...] | None) -> None:
        self._skip_ws()
        c = self._peek()
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self._advance()
            while True:
                self._skip_blank()
                if self._peek() in ("]", ""):
                    self._advance()
                    return
                self._value(None)
                self._skip_blank()
                if self._peek() == ",":
                    self._advance()
        elif c == "{":
            self._advance()
            while True:
                self._skip_blank()
                if self._peek() in ("}", ""):
                    self._advance()
                    return
                line = self.line
                key = self._key()
                if path is not None:
                    self.keys.setdefault(path + key, line)
                self._skip_ws()
                self._advance()  # '='
                self._value(path + key if path is not None else None)
                self._skip_blank()
                if self._peek() == ",":
                    self._advance()
        else:
            while self._peek() not in (",", "]", "}", "#", "\n", ""):
                self._advance()

    def scan(self) -> None:
        current: tuple[str, ...] = ()
        while True:
            self._skip_blank()
            if self.i >= len(self.s):
                return
            line = self.line
            if self._peek() == "[":
                double = self._peek(1) == "["
                self._advance(2 if double else 1)
                current = self._key()
                self._skip_ws()
                self._advance(2 if double else 1)
                self.tables.setdefault(current, line)
            else:
                key = self._key()
                self.keys.setdefault(current + key, line)
                self._skip_ws()
                self._advance()  # '='
                self._value(current + key)
            self._skip_ws()
            self._skip_comment()


class _Locator:
    """Lazily scans the text once and answers "which line is this path on"."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._scanner: _KeyScanner | None = None

    def _scan(self) -> _KeyScanner:
        if self._scanner is None:
            scanner = _KeyScanner(self._text)
            try:
                scanner.scan()
            except Exception:  # a scanner gap must never hide the real error
                pass
            self._scanner = scanner
        return self._scanner

    def line_of(self, path: tuple[str, ...]) -> int | None:
        sc = self._scan()
        while path:
            if path in sc.keys:
                return sc.keys[path]
            if path in sc.tables:
                return sc.tables[path]
            n = len(path)
            inside = [ln for p, ln in (*sc.keys.items(), *sc.tables.items()) if p[:n] == path]
            if inside:
                return min(inside)
            path = path[:-1]
        return None


# --------------------------------------------------------------------------
# Public API: config
# --------------------------------------------------------------------------

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def load_config_text(text: str, source: str) -> Config:
    """Parse and validate config TOML ``text``; ``source`` names it in errors."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        m = _TOML_POS.search(message)
        if m:
            line = int(m.group(1))
            message = f"{message[: m.start()]} (column {m.group(2)})"
        elif _TOML_END.search(message):
            message = _TOML_END.sub("", message) + " (at end of file)"
            line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        raise ConfigError(f"invalid TOML: {message}", source, line) from None
    try:
        return _build_config(data)
    except _Invalid as exc:
        raise ConfigError(exc.problem, source, _Locator(text).line_of(exc.path)) from None


def load_config(path: Path) -> Config:
    """Read ``path``; a missing file means all defaults. Never writes anything."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except IsADirectoryError:
        raise ConfigError("is a folder, not a config file", source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("the file is not valid UTF-8 text", source, line) from None
    return load_config_text(text, source)


def config_as_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """``{"section": {"key": value}}``; plain data, ready for ``tomli_w``."""
    return dataclasses.asdict(cfg)


def replace(cfg: Config, **section_overrides: Mapping[str, Any]) -> Config:
    """A new Config with some keys of some sections changed, validated.

    ``replace(cfg, model={"path": "x.gguf"}, sampling={"seed": 7})``. Raises
    :class:`ConfigError` (without a file or line) for unknown sections or
    keys and invalid values.
    """
    sections = _sections()
    changes: dict[str, Any] = {}
    for name, overrides in section_overrides.items():
        try:
            if name not in sections:
                raise _Invalid((name,), _unknown_section_problem(name, {}))
            if not isinstance(overrides, Mapping):
                raise _Invalid((name,), f"[{name}] overrides must be a mapping of keys to values")
            merged = {**dataclasses.asdict(getattr(cfg, name)), **overrides}
            changes[name] = _build_section(name, sections[name], merged)
        except _Invalid as exc:
            raise ConfigError(exc.problem) from None
    return dataclasses.replace(cfg, **changes)


# --------------------------------------------------------------------------
# Public API: the app's own state file
# --------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    """The state table; ``{}`` if the file is missing, unreadable or corrupt."""
    try:
        return tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
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
