"""The user's own llama-server as an engine, through its native API.

Candlelit renders and tokenizes the prompt itself (``/tokenize``, exact
budgets) and sends token ids to ``/completion`` with ``cache_prompt``, so
the server reuses the longest common prefix of its slot, turn after turn.
The chat has its own slot (``chat_slot``); background jobs (summaries,
ideas) run on another one when the server has two or more (``-np 2``), so a
fold never evicts the chat. On a single-slot server they share the slot and
the chat's next reply reads its prompt again (``background_shares_chat``).

Nothing here follows redirects, reads proxy settings from the environment
or connects anywhere but the checked address (``address.check_url``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tui.core.engine import kv_ops
from tui.core.engine.address import ServerAddress
from tui.core.engine.api import (
    Chunk,
    EngineError,
    Finished,
    GenerationRequest,
    ModelInfo,
    Sampling,
    StopReason,
    StreamEvent,
)
from tui.core.engine.http import Connection, ServerGone, ServerSettings


def sampling_body(s: Sampling) -> dict[str, Any]:
    return {
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "min_p": s.min_p,
        "repeat_penalty": s.repeat_penalty,
        "seed": s.seed,
    }


_REASONS: dict[str, StopReason] = {"eos": "stop", "word": "stop", "limit": "length"}


class LlamaServerEngine:
    """``Engine`` over HTTP to llama-server (see the module docstring)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.address: ServerAddress | None = None
        self._http: Connection | None = None
        self._info: ModelInfo | None = None
        self._lock = threading.Lock()
        self._cached: list[int] = []        # what the chat slot holds, as far as we sent it
        self.total_slots = 1
        self.background_slot: int | None = None
        self.prompt_tps: float | None = None
        self.props: dict[str, Any] = {}

    # -- life ----------------------------------------------------------------
    def load(self) -> None:
        self._http = Connection(self.settings)
        try:
            props = self._http.json("GET", "/props")
        except BaseException:
            self.close()
            raise
        self.address = self._http.address
        self.props = props
        self.total_slots = max(1, int(props.get("total_slots") or 1))
        chat = self.settings.chat_slot
        self.background_slot = next((i for i in range(self.total_slots) if i != chat), None)
        gen = props.get("default_generation_settings") or {}
        n_ctx = int(gen.get("n_ctx") or 0)
        if n_ctx <= 0:
            self.close()
            raise EngineError(f"the server at {self.settings.url} did not say its context size (/props)")
        path = str(props.get("model_path") or "server-model")
        self._info = ModelInfo(
            path=Path(path),
            name=str(props.get("model_alias") or Path(path).stem),
            n_ctx=n_ctx,
            n_ctx_train=n_ctx,
            chat_template=props.get("chat_template") or None,
            bos_token=str(props.get("bos_token") or ""),
            eos_token=str(props.get("eos_token") or ""),
            can_shift=False,
            shift_note="the server manages its own cache",
        )

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def __enter__(self) -> LlamaServerEngine:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            raise EngineError("the server engine is not connected")
        return self._info

    @property
    def background_shares_chat(self) -> bool:
        return self.background_slot is None

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._http is None:
            raise EngineError("the server engine is not connected")
        return self._http.json(method, path, body)

    def _where(self) -> str:
        return self._http.where if self._http else self.settings.url

    # -- tokens ----------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        out = self._json("POST", "/tokenize", {"content": text, "add_special": add_bos, "parse_special": True})
        toks = out.get("tokens")
        if not isinstance(toks, list) or not all(isinstance(t, int) for t in toks):
            raise EngineError(f"the server at {self._where()} sent bad tokens")
        return toks

    def detokenize(self, tokens: Sequence[int]) -> str:
        return str(self._json("POST", "/detokenize", {"tokens": list(tokens)}).get("content", ""))

    def count(self, text: str) -> int:
        return len(self.tokenize(text, add_bos=False))

    # -- generation ------------------------------------------------------------
    def _slot(self, background: bool) -> int:
        if background and self.background_slot is not None:
            return self.background_slot
        return self.settings.chat_slot

    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        http = self._http
        if http is None:
            raise EngineError("the server engine is not connected")
        cancel = cancel or threading.Event()
        tokens = list(request.tokens)
        if not tokens:
            raise EngineError("empty prompt")
        n_ctx = self.info.n_ctx
        if len(tokens) >= n_ctx:
            raise EngineError(
                f"the prompt is {len(tokens)} tokens but the server's context holds {n_ctx}; "
                "shorten the card or give the server a larger context (-c)"
            )
        s = request.sampling
        slot = self._slot(request.background)
        body = {
            "prompt": tokens,
            "stream": True,
            "cache_prompt": True,
            "id_slot": slot,
            "n_predict": max(1, min(s.max_tokens, n_ctx - len(tokens))),
            "stop": list(request.stop),
            "return_tokens": True,
            **sampling_body(s),
        }
        t0 = time.perf_counter()
        t_first: float | None = None
        text: list[str] = []
        generated: list[int] = []
        final: dict[str, Any] = {}
        reason: StopReason = "length"
        on_chat_slot = slot == self.settings.chat_slot
        if on_chat_slot:
            with self._lock:
                self._cached = []  # unknown until this request ends
        try:
            for data in http.events("/completion", body):
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if "error" in data:
                    raise EngineError(f"the server stopped the reply: {str(data['error'])[:200]}")
                piece = data.get("content") or ""
                generated.extend(t for t in data.get("tokens") or () if isinstance(t, int))
                if piece:
                    if t_first is None:
                        t_first = time.perf_counter()
                    text.append(piece)
                    yield Chunk(piece)
                if data.get("stop"):
                    final = data
                    reason = _REASONS.get(str(data.get("stop_type")), "stop")
                    break
                if cancel.is_set():
                    reason = "cancelled"
                    break
            else:
                if not final and reason != "cancelled":
                    reason = "cancelled"  # the stream ended without a last message
        except ServerGone:
            if not text:
                raise
            reason = "cancelled"  # a server gone mid-reply: what came is kept, marked stopped
        finally:
            if on_chat_slot:
                with self._lock:
                    self._cached = tokens + generated if final else []
        t_end = time.perf_counter()
        timings = final.get("timings") or {}
        prompt_n = int(timings.get("prompt_n", len(tokens)))
        cache_n = int(timings.get("cache_n", len(tokens) - prompt_n))
        if timings.get("prompt_per_second") and prompt_n >= 64:
            self.prompt_tps = float(timings["prompt_per_second"])
        n_gen = int(timings.get("predicted_n", len(generated)))
        metrics: dict[str, Any] = {
            "prompt_tokens": len(tokens),
            "reused_tokens": cache_n,
            "evaluated_tokens": len(tokens) - cache_n,
            "generated_tokens": n_gen,
            "seed": s.seed,
            "engine": "llama-server",
            "slot": slot,
        }
        if t_first is not None:
            metrics["ttft_s"] = round(t_first - t0, 4)
        if timings.get("predicted_per_second"):
            metrics["tokens_per_s"] = round(float(timings["predicted_per_second"]), 2)
        metrics["total_s"] = round(t_end - t0, 4)
        yield Finished("".join(text), reason, metrics)

    def warm(
        self, tokens: Sequence[int], cancel: threading.Event | None = None, *, shift: bool = True
    ) -> dict[str, Any]:
        """Evaluate the chat's next prompt into its slot (``n_predict: 0``)."""
        toks = list(tokens)
        if len(toks) < 2 or (cancel is not None and cancel.is_set()):
            return {"evaluated_tokens": 0, "seconds": 0.0}
        t0 = time.perf_counter()
        out = self._json(
            "POST", "/completion",
            {"prompt": toks, "n_predict": 0, "cache_prompt": True, "id_slot": self.settings.chat_slot},
        )
        with self._lock:
            self._cached = toks
        timings = out.get("timings") or {}
        prompt_n = int(timings.get("prompt_n", len(toks)))
        return {
            "evaluated_tokens": prompt_n,
            "reused_tokens": len(toks) - prompt_n,
            "seconds": round(time.perf_counter() - t0, 4),
            "mode": "exact",
        }

    # -- the chat slot's cache ---------------------------------------------------
    def cached_tokens(self) -> list[int]:
        with self._lock:
            return list(self._cached)

    def reeval_seconds(self, tokens: Sequence[int]) -> float | None:
        if not self.prompt_tps:
            return None
        return (len(tokens) - kv_ops.common_prefix(self.cached_tokens(), list(tokens))) / self.prompt_tps

    def forget(self) -> None:
        if self._http is None:
            return
        with self._lock:
            self._cached = []
        try:
            self._json("POST", f"/slots/{self.settings.chat_slot}?action=erase")
        except EngineError:
            pass  # a server without the slots endpoint: its cache goes with the next prompt

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        with self._lock:
            keep = kv_ops.common_prefix(self._cached, list(tokens))
            self._cached = self._cached[:keep]
            return keep

    def cache_key(self) -> str:
        import hashlib

        parts = [self._where(), str(self.info.path), str(self.info.n_ctx), str(self.props.get("build_info", ""))]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    # The server keeps its cache itself; a saved state is the slot file
    # (``/slots/{id}?action=save``), not bytes that pass through here.
    def state_size(self) -> int:
        return 0

    def state_blob(self) -> bytes | None:
        return None

    def load_state_blob(self, blob: bytes) -> int:
        return 0
