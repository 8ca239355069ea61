"""Regular expressions from untrusted lorebooks, matched in bounded time (RE2,
size limits and a shared time budget); ``split_slash_regex`` reads the
``/pattern/flags`` key form.

See docs/ARCHITECTURE.md#lore-activation.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any

MAX_PATTERN_CHARS = 500
MAX_PROGRAM_SIZE = 2500
_MAX_MEM = 8 << 20          # RE2's memory allowance for one compiled pattern
_JS_FLAGS = frozenset("dgimsuvy")
_BACKREF_ERROR = re.compile(r"escape sequence: \\[1-9]")


class RegexRejected(ValueError):
    """A pattern we will not run; the message is one line saying why."""


class BudgetSpent(Exception):
    """The time allowance of a :class:`SearchBudget` is used up."""


@dataclass(frozen=True)
class SafePattern:
    """A compiled pattern that matches UTF-8 bytes in linear time."""

    source: str
    ignore_case: bool = False
    multiline: bool = False
    dot_all: bool = False
    _regexp: Any = field(default=None, repr=False, compare=False)

    def search(self, text: bytes | str) -> bool:
        """True when the pattern occurs anywhere in ``text``."""
        if isinstance(text, str):
            text = encode_text(text)
        return self._regexp.search(text) is not None


def encode_text(text: str) -> bytes:
    """The UTF-8 bytes RE2 searches (lone surrogates become U+FFFD)."""
    return text.encode("utf-8", "replace")


def _one_line(message: str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return " ".join(text.split()) or "invalid pattern"


@functools.lru_cache(maxsize=2048)
def _compile(pattern: str, flags: str) -> SafePattern | str:
    """Compile once per (pattern, flags); a refusal is cached as its reason."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern longer than {MAX_PATTERN_CHARS} characters"
    if not pattern:
        return "empty pattern"
    try:
        raw = (f"(?{flags})" if flags else "") + pattern
        encoded = raw.encode("utf-8")
    except UnicodeEncodeError:
        return "pattern is not valid text"
    import re2  # imported on first use: most chats never compile a pattern

    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise write to stderr, under the TUI
    options.max_mem = _MAX_MEM
    try:
        regexp = re2.compile(encoded, options)
    except re2.error as exc:
        reason = _one_line(exc.args[0] if exc.args else "")
        if any(op in reason for op in ("(?<", "(?=", "(?!")):
            reason += " (look-around is not supported)"
        elif _BACKREF_ERROR.search(reason):
            reason += " (back-references are not supported)"
        return f"invalid or unsupported pattern: {reason}"
    if regexp.programsize > MAX_PROGRAM_SIZE:
        return "pattern too complex"
    return SafePattern(pattern, "i" in flags, "m" in flags, "s" in flags, regexp)


def compile_safe(
    pattern: str, *, ignore_case: bool = False, multiline: bool = False, dot_all: bool = False
) -> SafePattern:
    """Compile ``pattern`` for RE2; raise :class:`RegexRejected` if refused."""
    flags = ("i" if ignore_case else "") + ("m" if multiline else "") + ("s" if dot_all else "")
    result = _compile(pattern, flags)
    if isinstance(result, str):
        raise RegexRejected(result)
    return result


def _has_unescaped_slash(pattern: str) -> bool:
    escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "/":
            return True
    return False


def split_slash_regex(key: str) -> tuple[str, str] | None:
    """``"/pattern/flags"`` -> ``(pattern, flags)``; None when ``key`` is not one.

    Follows SillyTavern: flags are JavaScript's (``dgimsuvy``, each once), and
    an unescaped ``/`` inside the pattern means the key is plain text.
    """
    if len(key) < 3 or key[0] != "/":
        return None
    end = key.rfind("/")
    if end <= 0:
        return None
    pattern, flags = key[1:end], key[end + 1:]
    if not pattern or len(set(flags)) != len(flags) or not set(flags) <= _JS_FLAGS:
        return None
    if _has_unescaped_slash(pattern):
        return None
    return pattern, flags


def compile_slash_regex(key: str) -> SafePattern | None:
    """Compile a ``/pattern/flags`` key (``i``, ``m``, ``s`` honoured; the
    others do not change whether a match exists). None if not that form;
    :class:`RegexRejected` if it is but cannot run."""
    parts = split_slash_regex(key)
    if parts is None:
        return None
    pattern, flags = parts
    return compile_safe(pattern, ignore_case="i" in flags, multiline="m" in flags,
                        dot_all="s" in flags)


class SearchBudget:
    """A wall-clock allowance shared by a series of searches.

    Each search is linear, so one search can overrun the allowance by at most
    one search's time; after that every search raises :class:`BudgetSpent`.
    """

    def __init__(self, seconds: float) -> None:
        self._left = max(0.0, float(seconds))

    @property
    def spent(self) -> bool:
        return self._left <= 0.0

    def search(self, pattern: SafePattern, text: bytes) -> bool:
        if self.spent:
            raise BudgetSpent
        start = time.perf_counter()
        try:
            return pattern.search(text)
        finally:
            self._left -= time.perf_counter() - start
