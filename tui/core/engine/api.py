"""The engine seam: what the rest of Candlelit needs from a model.

``Engine`` is the whole contract (see docs/ARCHITECTURE.md, "The engine
seam"); the dataclasses are what crosses it. ``LlamaCppEngine`` implements it
in-process, ``ScriptedEngine`` for tests; a server engine implements the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from tui.core.errors import CandlelitError


class EngineError(CandlelitError):
    """A model problem the user can act on (one clear line)."""


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int = -1              # -1 = a fresh random seed per reply
    max_tokens: int = 300


@dataclass(frozen=True)
class GenerationRequest:
    tokens: Sequence[int]
    sampling: Sampling = field(default_factory=Sampling)
    stop: Sequence[str] = ()
    background: bool = False    # background jobs (summaries) yield to user turns;
                                # they leave the chat's KV cache as they found it


@dataclass(frozen=True)
class Chunk:
    """Newly generated, stop-string-safe text."""

    text: str


StopReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Finished:
    text: str
    reason: StopReason          # "stop" (stop string / end of turn) | "length" | "cancelled"
    metrics: dict[str, Any]


StreamEvent = Chunk | Finished


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    n_ctx: int
    n_ctx_train: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    can_shift: bool
    shift_note: str = ""        # why shifting is off on this model ("" when it is on)
    # the texts of the model's control tokens: untrusted text never becomes one
    # (tui/core/engine/literal.py)
    control_tokens: tuple[str, ...] = ()
    exact_tokens: bool = True   # False: counts are an estimate (a server without a tokenizer), shown as "≈"


@runtime_checkable
class Engine(Protocol):
    """A loaded model. Every method may be called from any thread; an engine
    serialises model work itself and lets user turns preempt background jobs
    (``GenerationRequest.background``, ``warm``).

    An engine that cannot do something answers in the neutral way instead of
    raising: no saved state (``state_blob`` -> None, ``load_state_blob`` -> 0),
    no cache to warm (``warm`` -> ``{"evaluated_tokens": 0}``), no speed
    measured yet (``reeval_seconds`` -> None).
    """

    @property
    def info(self) -> ModelInfo: ...

    # -- tokens: exact, as the model sees them (special tokens parsed)
    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def count(self, text: str) -> int:
        """Tokens of ``text`` with no BOS: the unit of every budget."""
        ...

    # -- generation
    def stream(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> Iterator[StreamEvent]:
        """Text chunks as they are sampled, then one ``Finished``."""
        ...

    def warm(
        self, tokens: Sequence[int], cancel: threading.Event | None = None, *, shift: bool = True
    ) -> dict[str, Any]:
        """Evaluate ``tokens`` in the background so the next reply finds them
        cached (exactly, or by shifting the cached window when ``shift``)."""
        ...

    # -- the chat's cache
    def cached_tokens(self) -> list[int]: ...

    def reeval_seconds(self, tokens: Sequence[int]) -> float | None:
        """About how long evaluating ``tokens`` from the cache would take now."""
        ...

    def forget(self) -> None:
        """Drop the chat's tokens and cache (a profile locked)."""
        ...

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        """Cut the chat's cache back to the part ``tokens`` starts with; the
        tokens kept. Before a state is saved, so nothing the current prompt
        no longer holds (a deleted or edited message, a rehearsal) is kept."""
        ...

    def cache_key(self) -> str:
        """What a saved state depends on; a state saved under another key is stale."""
        ...

    def state_size(self) -> int: ...

    def state_blob(self) -> bytes | None: ...

    def load_state_blob(self, blob: bytes) -> int:
        """Load bytes made by ``state_blob``; the tokens now cached (0: failed)."""
        ...

    def close(self) -> None: ...
