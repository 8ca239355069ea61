"""The lorebook model: entries, books, their defaults and V3 decorators.

Reading lives in ``tui.core.lore.parse``, writing in ``tui.core.lore.codec``, activation in
``tui.core.lore.activate``; see docs/ARCHITECTURE.md (lore) for the rules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tui.core.errors import CandlelitError

SPEC_LOREBOOK_V3 = "lorebook_v3"
Position = Literal["before_char", "after_char"]
SelectiveLogic = Literal["and_any", "not_all", "not_any", "and_all"]  # SillyTavern's 0..3
SourceFormat = Literal["character_book", "lorebook_v3", "sillytavern"]
RegexMode = Literal["off", "slash", "all"]
POSITIONS: tuple[Position, ...] = get_args(Position)
SELECTIVE_LOGIC: tuple[SelectiveLogic, ...] = get_args(SelectiveLogic)

DEFAULT_SCAN_DEPTH = 4
DEFAULT_TOKEN_BUDGET = 512
DEFAULT_INSERTION_ORDER = 100
DEFAULT_MAX_RECURSION = 3
MAX_SCAN_DEPTH = 1000
MAX_SCAN_CHARS = 20_000          # newest characters of the chat that are scanned
REGEX_TIME_BUDGET_S = 0.25       # regex time allowance of one activate() call
MAX_FILE_BYTES = 32 * 1024 * 1024

# Marks of an entry written by SillyTavern (its export always has them, and
# entry_to_dict never adds them, so editing an entry cannot flip its mode).
_ST_MARKS = ("display_index", "useProbability", "group_override", "vectorized")


class LoreError(CandlelitError):
    """A lorebook that cannot be read; the message is one line naming the source."""


@dataclass
class LoreEntry:
    """One lorebook entry, whatever format it came in."""

    keys: list[str] = field(default_factory=list)
    content: str = ""
    secondary_keys: list[str] = field(default_factory=list)
    enabled: bool = True
    insertion_order: int | float = DEFAULT_INSERTION_ORDER
    case_sensitive: bool | None = None        # None: case-insensitive
    whole_words: bool | None = None           # None: whole words (extensions.match_whole_words)
    selective: bool = False
    selective_logic: SelectiveLogic = "and_any"  # extensions.selectiveLogic
    constant: bool = False
    priority: int | float | None = None
    position: Position = "before_char"
    use_regex: bool = False
    scan_depth: int | None = None             # extensions.scan_depth
    exclude_recursion: bool = False           # extensions.exclude_recursion
    prevent_recursion: bool = False           # extensions.prevent_recursion
    id: int | str | None = None
    name: str | None = None
    comment: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # What was read, so unedited fields are written back exactly as found:
    # field -> (value as parsed, raw JSON value).
    _read: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)
    _order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def label(self) -> str:
        """A short name for messages: name, comment, first key, or ``"entry"``."""
        for text in (self.name, self.comment, *self.keys):
            if isinstance(text, str) and text.strip():
                line = " ".join(text.split())
                return line if len(line) <= 40 else line[:39] + "…"
        return "entry" if self.id is None else f"entry {self.id}"

    @property
    def text(self) -> str:
        """The content that goes into the prompt: decorators removed, trimmed."""
        return split_decorators(self.content)[1]

    @property
    def decorators(self) -> dict[str, str]:
        """Recognized V3 decorators at the top of ``content`` (name -> value)."""
        return dict(split_decorators(self.content)[0])

    @property
    def regex_mode(self) -> RegexMode:
        """``"off"``, ``"slash"`` (only ``/pattern/flags`` keys) or ``"all"``."""
        if any(mark in self.extensions for mark in _ST_MARKS):
            return "slash"
        return "all" if self.use_regex else "off"


@dataclass
class Lorebook:
    """A named list of entries with scan settings."""

    name: str | None = None
    description: str | None = None
    scan_depth: int | None = None
    token_budget: int | None = None
    recursive_scanning: bool | None = None
    entries: list[LoreEntry] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)       # unknown book fields
    top_extra: dict[str, Any] = field(default_factory=dict)   # unknown keys beside "data"
    source_format: SourceFormat = "character_book"
    _read: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)
    _order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def label(self) -> str:
        return " ".join(self.name.split()) if self.name and self.name.strip() else "lorebook"



# --------------------------------------------------------------------------
# Decorators


_KNOWN_DECORATORS = frozenset(("activate", "dont_activate", "scan_depth", "additional_keys",
                               "exclude_keys"))


@functools.lru_cache(maxsize=4096)
def split_decorators(content: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """Split leading ``@@name value`` lines off ``content``.

    Unrecognized decorators are dropped from the text too; a ``@@@`` line is a
    fallback, used only when the decorator above it was not recognized.
    """
    if not content.lstrip().startswith("@@"):
        return (), content.strip()
    lines = content.replace("\r\n", "\n").split("\n")
    found: dict[str, str] = {}
    want_fallback = False
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith("@@"):
            break
        fallback = line.startswith("@@@")
        name, _, value = line.lstrip("@").partition(" ")
        name = name.strip().lower()
        if fallback and not want_fallback:
            i += 1
            continue
        if name in _KNOWN_DECORATORS:
            found.setdefault(name, value.strip())
            want_fallback = False
        else:
            want_fallback = True
        i += 1
    return tuple(found.items()), "\n".join(lines[i:]).strip()
