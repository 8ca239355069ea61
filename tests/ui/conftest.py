"""A scripted engine for deterministic UI tests (the real model is covered by
tests/engine and the end-to-end tests)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tui.core.engine import Chunk, Finished, GenerationRequest, ModelInfo


class ScriptedEngine:
    def __init__(self, replies: list[str] | None = None, delay: float = 0.0) -> None:
        self.replies = list(replies or ["Hello there, traveller."])
        self.delay = delay
        self.requests: list[GenerationRequest] = []
        self.gate = threading.Event()
        self.gate.set()
        self._info = ModelInfo(Path("/nonexistent/scripted.gguf"), "Scripted", 2048, 2048, None, "<bos>", "<eos>", False)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return ([1] if add_bos else []) + [ord(c) for c in text]

    def stream(self, request, cancel=None):
        self.requests.append(request)
        cancel = cancel or threading.Event()
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        words = text.split(" ")
        out = ""
        reason = "stop"
        for i, w in enumerate(words):
            self.gate.wait(5)
            if cancel.is_set():
                reason = "cancelled"
                break
            piece = (" " if i else " ") + w
            out += piece
            yield Chunk(piece)
            if self.delay:
                time.sleep(self.delay)
        metrics = {"prompt_tokens": len(request.tokens), "reused_tokens": 0, "evaluated_tokens": len(request.tokens),
                   "generated_tokens": len(words), "ttft_s": 0.01, "tokens_per_s": 42.0}
        yield Finished(out, reason, metrics)

    def close(self) -> None:
        pass


@pytest.fixture
def scripted():
    return ScriptedEngine
