"""Validation of parsed TOML against the schema, driven by the dataclass fields.

Problems are raised as :class:`Invalid` (a key path and a one-line problem);
the loader turns them into :class:`~tui.core.config.load.ConfigError` with a line.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import typing
from collections.abc import Mapping
from typing import Any

from tui.core.config.schema import Config


class Invalid(Exception):
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


def section_types() -> dict[str, type]:
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


def build_section(name: str, cls: type, raw: Any, *, check_unknown: bool = True) -> Any:
    """Validate a raw mapping against section dataclass ``cls``; return an instance."""
    if not isinstance(raw, Mapping):
        raise Invalid(
            (name,), f"[{name}] must be a table (a [{name}] section), got {_show(raw)}"
        )
    spec = _fields(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in spec:
            raise Invalid((name, key), _unknown_key_problem(name, key, spec))
        fld, kind = spec[key]
        where = f"[{name}] {key}"
        try:
            converted = _check_type(where, kind, value)
            _check_rules(where, fld.metadata, converted, value)
        except ValueError as exc:
            raise Invalid((name, key), str(exc)) from None
        values[key] = converted
    return cls(**values)


def _unknown_key_problem(section: str, key: str, spec: Mapping[str, Any]) -> str:
    problem = f"unknown key {json.dumps(key, ensure_ascii=False)} in [{section}]"
    hint = _suggest(key, spec)
    if hint:
        return f"{problem} (did you mean {json.dumps(hint)}?)"
    for other, cls in section_types().items():
        if other != section and key in _fields(cls):
            return f"{problem} (it belongs in [{other}])"
    return f"{problem} (known keys: {', '.join(spec)})"


def unknown_section_problem(name: str, value: Any) -> str:
    sections = section_types()
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


def build_config(data: Mapping[str, Any]) -> Config:
    sections = section_types()
    built: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in sections:
            raise Invalid((name,), unknown_section_problem(name, raw))
        built[name] = build_section(name, sections[name], raw)
    return Config(**built)
