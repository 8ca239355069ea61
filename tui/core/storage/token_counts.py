"""Token counts per text, cached, so a long chat is tokenized once.

Building a prompt needs to know how many tokens each recent message takes
(to find where the window starts) and folding memory needs the same for the
unfolded messages. Tokenizing growing prefixes again on every turn made both
grow faster than the history; a count depends only on the tokenizer and the
text, so it is remembered, keyed by both.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

LIMIT = 200_000  # texts remembered per tokenizer (a few MB)


class Counter(Protocol):
    """What counts need from an engine: ``count(text)``, tokens without BOS."""

    def count(self, text: str) -> int: ...


class TokenCounts:
    """``counts(text)``: the number of tokens ``engine.count`` makes of
    ``text``, remembered for the last ``limit`` texts. The counts hold their
    engine weakly: they must not keep it alive."""

    def __init__(self, engine: Counter, limit: int = LIMIT) -> None:
        try:
            self._engine: Callable[[], Counter | None] = weakref.ref(engine)
        except TypeError:  # not weak-referenceable: held for the counts' lifetime
            self._engine = lambda: engine
        self._limit = limit
        self._known: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        with self._lock:
            n = self._known.get(text)
            if n is not None:
                self._known.move_to_end(text)
                return n
        engine = self._engine()
        if engine is None:
            raise ReferenceError("the engine these counts belong to is gone")
        n = engine.count(text)
        with self._lock:
            self._known[text] = n
            if len(self._known) > self._limit:
                self._known.popitem(last=False)
        return n

    def message(self, m: object) -> int:
        """Tokens of one message as a transcript line, ``Speaker: text``: the
        unit the recent window and memory folds are measured in."""
        return self(f"{m.speaker}: {m.text}\n")  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._known)


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def counts_for(engine: Counter) -> TokenCounts:
    """The counts of ``engine``'s tokenizer, shared by every session on it
    (they go with the engine)."""
    with _SHARED_LOCK:
        try:
            found = _SHARED.get(engine)
        except TypeError:  # not weak-referenceable: counts for this call only
            return TokenCounts(engine)
        if found is None:
            found = _SHARED[engine] = TokenCounts(engine)
        return found
