"""Finding the line a key path is written on in TOML text ``tomllib`` accepted."""

from __future__ import annotations

import re
import tomllib

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


class Locator:
    """Lazily scans the text once and answers "which line is this path on"."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._scanner: _KeyScanner | None = None

    def _scan(self) -> _KeyScanner:
        if self._scanner is None:
            scanner = _KeyScanner(self._text)
            try:
                scanner.scan()
            except Exception:  # noqa: BLE001 - a scanner gap must never hide the real error
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
