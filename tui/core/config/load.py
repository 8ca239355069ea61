"""Reading ``config.toml`` into a validated :class:`Config`; errors as ``<file>:<line>: <problem>``.

The user's config file is read-only to Candlelit.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tui.core.config.locate import Locator
from tui.core.config.schema import Config
from tui.core.config.validate import (
    Invalid,
    build_config,
    build_section,
    section_types,
    unknown_section_problem,
)
from tui.core.errors import CandlelitError


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
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", source, None) from None
    except ValueError as exc:  # a giant integer (Python's int string limit)
        raise ConfigError(f"invalid TOML: {' '.join(str(exc).split())[:120]}", source, None) from None
    try:
        return build_config(data)
    except Invalid as exc:
        raise ConfigError(exc.problem, source, Locator(text).line_of(exc.path)) from None


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
    sections = section_types()
    changes: dict[str, Any] = {}
    for name, overrides in section_overrides.items():
        try:
            if name not in sections:
                raise Invalid((name,), unknown_section_problem(name, {}))
            if not isinstance(overrides, Mapping):
                raise Invalid((name,), f"[{name}] overrides must be a mapping of keys to values")
            merged = {**dataclasses.asdict(getattr(cfg, name)), **overrides}
            changes[name] = build_section(name, sections[name], merged)
        except Invalid as exc:
            raise ConfigError(exc.problem) from None
    return dataclasses.replace(cfg, **changes)
