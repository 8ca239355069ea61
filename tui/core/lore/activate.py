"""Lore activation: which entries of which books the recent chat calls for.

See docs/ARCHITECTURE.md#lore-activation for the rules (scan depth, selective logic,
decorators, regex keys, budgets, recursion).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui.core.cards.macros import expand
from tui.core.lore.book import (
    DEFAULT_MAX_RECURSION,
    DEFAULT_SCAN_DEPTH,
    DEFAULT_TOKEN_BUDGET,
    MAX_SCAN_CHARS,
    MAX_SCAN_DEPTH,
    REGEX_TIME_BUDGET_S,
    Lorebook,
    LoreEntry,
    Position,
    split_decorators,
)
from tui.core.lore.codec import as_number
from tui.core.lore.safe_regex import (
    BudgetSpent,
    RegexRejected,
    SafePattern,
    SearchBudget,
    compile_safe,
    compile_slash_regex,
    encode_text,
)


@dataclass(frozen=True, eq=False)
class Activated:
    """An entry chosen for the prompt, and why."""

    entry: LoreEntry
    book: Lorebook
    reason: str         # "constant", "@@activate", "key 'x'", "recursion: key 'x'", ...
    tokens: int
    round: int = 0      # 0: from the chat; n: n-th recursion round

    @property
    def text(self) -> str:
        return self.entry.text

    @property
    def position(self) -> Position:
        return self.entry.position


@dataclass
class LoreResult:
    """What :func:`activate` chose, what it dropped, and what went wrong."""

    activated: list[Activated] = field(default_factory=list)   # by insertion_order
    dropped: list[Activated] = field(default_factory=list)     # matched, over budget
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(a.tokens for a in self.activated)

    def text(self, position: Position | None = None) -> str:
        """Activated texts (all, or one position's), one block per entry."""
        return "\n".join(a.text for a in self.activated if position in (None, a.position))



# --------------------------------------------------------------------------
# Matching


_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR",
             "TIBETAN", "IDEOGRAPHIC", "HALFWIDTH KATAKANA", "YI ")


def _needs_boundary(ch: str) -> bool:
    if not (ch.isalnum() or ch == "_"):
        return False
    name = unicodedata.name(ch, "")
    return not name.startswith(_UNSPACED)


@functools.lru_cache(maxsize=8192)
def _literal(key: str, case_sensitive: bool, whole_words: bool) -> re.Pattern[str]:
    body = re.escape(key)
    if whole_words:
        if _needs_boundary(key[0]):
            body = r"(?<!\w)" + body
        if _needs_boundary(key[-1]):
            body += r"(?!\w)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


# The only non-ASCII characters that ``re.IGNORECASE`` equates with ASCII
# letters (dotted/dotless I, long s, Kelvin sign): folded before the quick
# ``in`` test so it never rejects a real match.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class _Haystack:
    def __init__(self, text: str) -> None:
        self.text = text
        self._bytes: bytes | None = None
        self._folded: str | None = None

    @property
    def folded(self) -> str:
        if self._folded is None:
            self._folded = self.text.translate(_ASCII_FOLD).lower()
        return self._folded

    @property
    def bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = encode_text(self.text)
        return self._bytes


_JOIN = "\n\x01\n"  # between messages: a non-word separator no plain key contains


class _Scan:
    """Shared state of one activate() call."""

    def __init__(self, texts: Sequence[str], macros: Mapping[str, str] | None,
                 regex_seconds: float) -> None:
        self.texts = [t for t in texts if isinstance(t, str)]
        self.macros = macros
        self.budget = SearchBudget(regex_seconds)
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._chat: dict[int, str] = {}
        self.buffer = ""            # activated content, for recursion

    def warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warnings.append(message)

    def chat(self, depth: int) -> str:
        if depth not in self._chat:
            recent = self.texts[-depth:] if depth > 0 else []
            self._chat[depth] = _JOIN.join(recent)[-MAX_SCAN_CHARS:]
        return self._chat[depth]

    def key(self, key: str) -> str:
        if self.macros and "{{" in key:
            key = expand(key, self.macros)
        return key.strip()


def _key_hits(scan: _Scan, book: Lorebook, entry: LoreEntry, key: str, hay: _Haystack) -> bool:
    key = scan.key(key)
    if not key:
        return False
    mode = entry.regex_mode
    pattern: SafePattern | None = None
    try:
        if mode in ("slash", "all"):
            pattern = compile_slash_regex(key)
            if pattern is None and mode == "all":
                pattern = compile_safe(key, ignore_case=not entry.case_sensitive)
    except RegexRejected as exc:
        scan.warn(f"lorebook {book.label!r}, entry {entry.label!r}: key {key[:60]!r} skipped ({exc})")
        return False
    if pattern is None:
        # a cheap substring test first: most keys are absent from most chats
        if entry.case_sensitive:
            if key not in hay.text:
                return False
        elif key.isascii() and key.lower() not in hay.folded:
            return False
        whole = True if entry.whole_words is None else entry.whole_words
        return _literal(key, bool(entry.case_sensitive), whole).search(hay.text) is not None
    try:
        return scan.budget.search(pattern, hay.bytes)
    except BudgetSpent:
        scan.warn(f"lorebook {book.label!r}, entry {entry.label!r}: regex key {key[:60]!r} "
                  "skipped (regex time limit for this turn reached)")
        return False


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _evaluate(scan: _Scan, book: Lorebook, entry: LoreEntry, hay: _Haystack) -> str | None:
    """Why ``entry`` fires on ``hay`` (by keys), or None."""
    decos = dict(split_decorators(entry.content)[0])
    primary = next((k for k in entry.keys if _key_hits(scan, book, entry, k, hay)), None)
    if primary is None:
        return None
    if "additional_keys" in decos:
        if not any(_key_hits(scan, book, entry, k, hay) for k in _split_list(decos["additional_keys"])):
            return None
    if "exclude_keys" in decos:
        if any(_key_hits(scan, book, entry, k, hay) for k in _split_list(decos["exclude_keys"])):
            return None
    reason = f"key {scan.key(primary)!r}"
    secondary = [k for k in entry.secondary_keys if k.strip()]
    if not (entry.selective and secondary):
        return reason
    logic = entry.selective_logic
    hits = []
    for k in secondary:
        hit = _key_hits(scan, book, entry, k, hay)
        hits.append(hit)
        if logic == "and_any" and hit:
            return f"{reason} + {scan.key(k)!r}"
        if logic == "not_all" and not hit:
            return f"{reason}, not {scan.key(k)!r}"
    if logic == "not_any" and not any(hits):
        return f"{reason}, none of the secondary keys"
    if logic == "and_all" and all(hits):
        return f"{reason} + all secondary keys"
    return None


def _entry_depth(book: Lorebook, entry: LoreEntry, default: int) -> int:
    decos = dict(split_decorators(entry.content)[0])
    depth: Any = as_number(decos.get("scan_depth", "")) if "scan_depth" in decos else None
    if depth is None or depth < 0:
        depth = entry.scan_depth
    if depth is None:
        depth = book.scan_depth if book.scan_depth is not None else default
    return max(0, min(int(depth), MAX_SCAN_DEPTH))


# --------------------------------------------------------------------------
# Activation


def activate(
    books: Sequence[Lorebook],
    recent_texts: Sequence[str],
    count_tokens: Callable[[str], int],
    *,
    max_recursion: int = DEFAULT_MAX_RECURSION,
    default_scan_depth: int = DEFAULT_SCAN_DEPTH,
    default_budget: int = DEFAULT_TOKEN_BUDGET,
    total_budget: int | None = None,
    macros: Mapping[str, str] | None = None,
    regex_seconds: float = REGEX_TIME_BUDGET_S,
) -> LoreResult:
    """Choose the entries of ``books`` that the chat calls for.

    ``recent_texts`` are the chat messages, oldest first (include the
    speaker's name in each if names should trigger entries). ``count_tokens``
    measures an entry's text. ``macros`` (e.g. ``{"char": ..., "user": ...}``)
    are expanded in keys before matching.

    Rules, with our defaults where a book is silent:

    - keys are looked for in the last ``scan_depth`` messages (book value,
      else ``default_scan_depth``; an entry may override it with
      ``extensions.scan_depth`` or ``@@scan_depth``); case-insensitive unless
      ``case_sensitive``; whole words unless ``extensions.match_whole_words``
      is false (an edge that is not a letter or digit, or is in a script
      written without spaces, needs no boundary);
    - ``selective`` + ``secondary_keys``: "and any" (V2), or SillyTavern's
      ``extensions.selectiveLogic`` "not all", "not any", "and all";
    - ``constant`` always fires, ``enabled: false`` never; ``@@activate``,
      ``@@dont_activate``, ``@@additional_keys``, ``@@exclude_keys`` honoured;
    - regex keys run on RE2 (``tui.core.lore.safe_regex``): a refused pattern
      or a spent ``regex_seconds`` allowance skips that key with a warning.
      An entry carrying SillyTavern's marks treats only ``/pattern/flags``
      keys as regexes (SillyTavern sets ``use_regex`` on every export);
    - budget: each book at most ``token_budget`` (else ``default_budget``),
      all together at most ``total_budget``; kept by higher ``priority``,
      then higher ``insertion_order``; one that does not fit is dropped and
      smaller ones may still fit; direct matches are budgeted before
      recursion;
    - recursion (books with ``recursive_scanning: true``): activated content
      is scanned again, up to ``max_recursion`` rounds, except
      ``exclude_recursion`` entries; ``prevent_recursion`` content triggers
      nothing;
    - the result is ordered by ``insertion_order`` (lower first).
    """
    scan = _Scan(recent_texts, macros, regex_seconds)
    run = _Activation(books, scan, count_tokens, default_budget, total_budget)
    for round_no in range(max(0, max_recursion) + 1):
        if round_no > 0 and not scan.buffer:
            break
        candidates = run.candidates(round_no, default_scan_depth)
        if not candidates:
            break
        fresh = run.choose(candidates, round_no)
        if not any(b.recursive_scanning for b in books):
            break
        added = [a.text for a in fresh if not a.entry.prevent_recursion]
        if not added:
            break
        if scan.macros:
            added = [expand(t, scan.macros) for t in added]
        scan.buffer = _JOIN.join([scan.buffer, *added]) if scan.buffer else _JOIN.join(added)
    return run.finish()


class _Activation:
    """The state of one :func:`activate` call: what is decided, what is spent."""

    def __init__(self, books: Sequence[Lorebook], scan: _Scan,
                 count_tokens: Callable[[str], int], default_budget: int,
                 total_budget: int | None) -> None:
        self.scan = scan
        self.books = books
        self.count_tokens = count_tokens
        self.default_budget = default_budget
        self.total_budget = total_budget
        self.result = LoreResult(warnings=scan.warnings)
        self.token_cache: dict[int, int] = {}
        self.used_by_book: dict[int, int] = {}
        self.used_total = 0
        self.index = {(bi, ei): (book, entry)
                      for bi, book in enumerate(books) for ei, entry in enumerate(book.entries)}
        self.decided: set[tuple[int, int]] = {
            place for place, (_book, entry) in self.index.items()
            if not entry.enabled or not entry.text
        }

    def tokens_of(self, entry: LoreEntry) -> int:
        if id(entry) not in self.token_cache:
            self.token_cache[id(entry)] = max(0, int(self.count_tokens(entry.text)))
        return self.token_cache[id(entry)]

    def budget_of(self, book: Lorebook) -> int:
        own = book.token_budget
        return own if own is not None and own > 0 else self.default_budget

    def candidates(self, round_no: int, default_scan_depth: int) -> list[tuple[int, int, str]]:
        """Entries not yet decided that fire in this round, with why."""
        scan = self.scan
        recursion = round_no > 0
        found: list[tuple[int, int, str]] = []
        hays: dict[int, _Haystack] = {}
        for (bi, ei), (book, entry) in self.index.items():
            if (bi, ei) in self.decided:
                continue
            if recursion and (not book.recursive_scanning or entry.exclude_recursion):
                continue
            decos = dict(split_decorators(entry.content)[0])
            if "activate" in decos:
                reason: str | None = "@@activate" if not recursion else None
            elif "dont_activate" in decos:
                self.decided.add((bi, ei))
                continue
            elif entry.constant:
                reason = "constant" if not recursion else None
            else:
                depth = _entry_depth(book, entry, default_scan_depth)
                if depth not in hays:
                    text = scan.chat(depth)
                    if recursion:  # the chat plus what lore has added so far
                        tail = scan.buffer[-MAX_SCAN_CHARS:]
                        text = f"{text}{_JOIN}{tail}" if text else tail
                    hays[depth] = _Haystack(text)
                hay = hays[depth]
                reason = _evaluate(scan, book, entry, hay) if hay.text else None
                if reason and recursion:
                    reason = f"recursion: {reason}"
            if reason:
                found.append((bi, ei, reason))
        return found

    def choose(self, candidates: list[tuple[int, int, str]], round_no: int) -> list[Activated]:
        """Spend the budgets on ``candidates``, most important first."""

        def keep_order(item: tuple[int, int, str]) -> tuple:
            entry = self.index[(item[0], item[1])][1]
            return (-(entry.priority or 0), -entry.insertion_order, item[0], item[1])

        fresh: list[Activated] = []
        for bi, ei, reason in sorted(candidates, key=keep_order):
            book, entry = self.index[(bi, ei)]
            self.decided.add((bi, ei))
            cost = self.tokens_of(entry)
            chosen = Activated(entry, book, reason, cost, round_no)
            fits = self.used_by_book.get(bi, 0) + cost <= self.budget_of(book)
            if self.total_budget is not None and self.used_total + cost > self.total_budget:
                fits = False
            if not fits:
                self.result.dropped.append(chosen)
                continue
            self.used_by_book[bi] = self.used_by_book.get(bi, 0) + cost
            self.used_total += cost
            fresh.append(chosen)
        self.result.activated.extend(fresh)
        return fresh

    def finish(self) -> LoreResult:
        result = self.result
        if result.dropped:
            names = ", ".join(repr(a.entry.label) for a in result.dropped[:5])
            more = f" and {len(result.dropped) - 5} more" if len(result.dropped) > 5 else ""
            self.scan.warn(f"lore over its token budget: left out {names}{more}")
        place = {id(entry): (bi, ei) for (bi, ei), (_book, entry) in self.index.items()}
        result.activated.sort(key=lambda a: (a.entry.insertion_order, place[id(a.entry)]))
        return result
