"""A scripted engine: canned replies word by word, one token per character.
For tests and UI layout work; it implements the whole ``Engine`` protocol and
holds no cache, so the cache methods answer the neutral way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tui.core.engine.api import Chunk, Finished, GenerationRequest, ModelInfo, StopReason, StreamEvent

BOS = 1


class ScriptedEngine:
    """Replies are taken in order (the last one repeats). ``gate`` pauses a
    reply between words while cleared; ``delay`` slows each word."""

    def __init__(self, replies: list[str] | None = None, delay: float = 0.0, n_ctx: int = 2048) -> None:
        self.replies = list(replies or ["Hello there, traveller."])
        self.delay = delay
        self.requests: list[GenerationRequest] = []
        self.gate = threading.Event()
        self.gate.set()
        self._info = ModelInfo(
            Path("/nonexistent/scripted.gguf"), "Scripted", n_ctx, n_ctx, None, "<bos>", "<eos>", False
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return ([BOS] if add_bos else []) + [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int]) -> str:
        return "".join(chr(t) for t in tokens if t != BOS)

    def count(self, text: str) -> int:
        return len(text)

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        self.requests.append(request)
        cancel = cancel or threading.Event()
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        words = text.split(" ")
        out = ""
        reason: StopReason = "stop"
        for w in words:
            self.gate.wait(5)
            if cancel.is_set():
                reason = "cancelled"
                break
            piece = " " + w
            out += piece
            yield Chunk(piece)
            if self.delay:
                time.sleep(self.delay)
        metrics = {"prompt_tokens": len(request.tokens), "reused_tokens": 0, "evaluated_tokens": len(request.tokens),
                   "generated_tokens": len(words), "ttft_s": 0.01, "tokens_per_s": 42.0}
        yield Finished(out, reason, metrics)

    def warm(
        self, tokens: Sequence[int], cancel: threading.Event | None = None, *, shift: bool = True
    ) -> dict[str, Any]:
        return {"evaluated_tokens": 0, "seconds": 0.0}

    def cached_tokens(self) -> list[int]:
        return []

    def reeval_seconds(self, tokens: Sequence[int]) -> float | None:
        return None

    def forget(self) -> None:
        pass

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        return 0

    def cache_key(self) -> str:
        return "scripted"

    def state_size(self) -> int:
        return 0

    def state_blob(self) -> bytes | None:
        return None

    def load_state_blob(self, blob: bytes) -> int:
        return 0

    def close(self) -> None:
        pass
