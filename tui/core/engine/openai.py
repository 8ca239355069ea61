"""Any OpenAI-compatible server's text completion endpoint (``/v1/completions``)
with Candlelit's own rendered prompt: vLLM, LM Studio, KoboldCpp, TabbyAPI,
Ollama's ``/v1``, llama-server.

Token counts come from, in this order: a local copy of the model's
vocabulary (``[engine] tokenizer = "/path/model.gguf"``, loaded vocab-only);
the server's own tokenize endpoint where it has one (llama-server's
``/tokenize``, vLLM's ``/tokenize``); otherwise an estimate (about four
characters a token), which ``info.exact_tokens`` reports so the status bar
and ``prompt --json`` show "≈". With exact server tokens the prompt goes as
token ids (the OpenAI API allows them); otherwise as text.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tui.core.engine.api import (
    Chunk,
    Engine,
    EngineError,
    Finished,
    GenerationRequest,
    ModelInfo,
    StopReason,
    StreamEvent,
)
from tui.core.engine.http import Connection, ServerGone, ServerSettings

_PIECES = re.compile(r"\s*\S{1,4}|\s+")
_REASONS: dict[str, StopReason] = {"stop": "stop", "length": "length", "eos": "stop"}


class EstimateTokens:
    """Text split into pieces of about a token each (up to four characters
    and the space before them), interned so ids round-trip exactly."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {"": 0}
        self._pieces: list[str] = [""]
        self._lock = threading.Lock()

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        out = [0] if add_bos else []
        with self._lock:
            for piece in _PIECES.findall(text):
                i = self._ids.get(piece)
                if i is None:
                    i = self._ids[piece] = len(self._pieces)
                    self._pieces.append(piece)
                out.append(i)
        return out

    def detokenize(self, tokens: Sequence[int]) -> str:
        with self._lock:
            n = len(self._pieces)
            return "".join(self._pieces[t] for t in tokens if 0 <= t < n)


class OpenAIEngine:
    """``Engine`` over an OpenAI-compatible ``/v1/completions`` (see the module docstring)."""

    def __init__(self, settings: ServerSettings, n_ctx: int = 4096) -> None:
        self.settings = settings
        self.n_ctx = n_ctx
        self._http: Connection | None = None
        self._info: ModelInfo | None = None
        self._vocab: Engine | None = None
        self._estimate: EstimateTokens | None = None
        self.token_source = ""          # "gguf" | "llama-server" | "vllm" | "estimate"
        self.model = settings.model
        self.models: list[str] = []

    # -- life ----------------------------------------------------------------
    def load(self) -> None:
        self._http = Connection(self.settings)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        http = self._http
        assert http is not None
        listed = http.json("GET", "/v1/models").get("data") or []
        entries = [m for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
        self.models = [m["id"] for m in entries]
        if not self.model:
            if not self.models:
                raise EngineError(f"the server at {http.where} lists no models (/v1/models)")
            self.model = self.models[0]
        entry = next((m for m in entries if m["id"] == self.model), {})
        meta: dict[str, Any] = entry["meta"] if isinstance(entry.get("meta"), dict) else {}
        n_ctx = int(entry.get("max_model_len") or entry.get("context_length") or self.n_ctx)
        self._pick_tokenizer()
        self._info = ModelInfo(
            path=Path(self.model),
            name=Path(self.model).stem if "/" in self.model else self.model,
            n_ctx=n_ctx,
            n_ctx_train=int(meta.get("n_ctx_train") or n_ctx),
            chat_template=self._vocab.info.chat_template if self._vocab else None,
            bos_token=self._vocab.info.bos_token if self._vocab else "",
            eos_token=self._vocab.info.eos_token if self._vocab else "",
            can_shift=False,
            shift_note="the server manages its own cache",
            control_tokens=self._vocab.info.control_tokens if self._vocab else (),
            exact_tokens=self.token_source != "estimate",
        )

    def _pick_tokenizer(self) -> None:
        want = self.settings.tokenizer
        if want and want != "estimate":
            from tui.core.engine.llama import LlamaCppEngine
            from tui.core.engine.settings import EngineSettings

            path = Path(want).expanduser()
            if not path.is_file():
                raise EngineError(f"[engine] tokenizer {path} is not a file")
            vocab = LlamaCppEngine(EngineSettings(model_path=path, n_ctx=self.n_ctx, vocab_only=True))
            try:
                vocab.load()
            except BaseException:
                vocab.close()
                raise
            self._vocab = vocab
            self.token_source = "gguf"
            return
        if want != "estimate":
            for source, body in (
                ("llama-server", {"content": "a", "add_special": False}),
                ("vllm", {"model": self.model, "prompt": "a", "add_special_tokens": False}),
            ):
                try:
                    out = self._http.json("POST", "/tokenize", body) if self._http else {}
                except EngineError:
                    continue
                if isinstance(out.get("tokens"), list) and out["tokens"]:
                    self.token_source = source
                    return
        self._estimate = EstimateTokens()
        self.token_source = "estimate"

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()
        vocab, self._vocab = self._vocab, None
        if vocab is not None:
            vocab.close()

    def __enter__(self) -> OpenAIEngine:
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
    def address(self) -> Any:
        return self._http.address if self._http else None

    def _conn(self) -> Connection:
        if self._http is None:
            raise EngineError("the server engine is not connected")
        return self._http

    # -- tokens ----------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        if self._vocab is not None:
            return self._vocab.tokenize(text, add_bos=add_bos)
        if self._estimate is not None:
            return self._estimate.tokenize(text, add_bos)
        if self.token_source == "llama-server":
            out = self._conn().json("POST", "/tokenize", {"content": text, "add_special": add_bos})
        else:
            body = {"model": self.model, "prompt": text, "add_special_tokens": add_bos}
            out = self._conn().json("POST", "/tokenize", body)
        toks = out.get("tokens")
        if not isinstance(toks, list) or not all(isinstance(t, int) for t in toks):
            raise EngineError(f"the server at {self._conn().where} sent bad tokens")
        return toks

    def detokenize(self, tokens: Sequence[int]) -> str:
        if self._vocab is not None:
            return self._vocab.detokenize(tokens)
        if self._estimate is not None:
            return self._estimate.detokenize(tokens)
        if self.token_source == "llama-server":
            return str(self._conn().json("POST", "/detokenize", {"tokens": list(tokens)}).get("content", ""))
        out = self._conn().json("POST", "/detokenize", {"model": self.model, "tokens": list(tokens)})
        return str(out.get("prompt", ""))

    def count(self, text: str) -> int:
        return len(self.tokenize(text, add_bos=False))

    # -- generation ------------------------------------------------------------
    def stream(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Iterator[StreamEvent]:
        http = self._conn()
        cancel = cancel or threading.Event()
        tokens = list(request.tokens)
        n_ctx = self.info.n_ctx
        if not tokens:
            raise EngineError("empty prompt")
        if len(tokens) >= n_ctx:
            raise EngineError(f"the prompt is {len(tokens)} tokens but the server's context holds {n_ctx}")
        s = request.sampling
        # exact server tokens go as ids; otherwise the text they stand for
        prompt: Any = tokens if self.token_source in ("llama-server", "vllm") else self.detokenize(tokens)
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "stream": True,
            "max_tokens": max(1, min(s.max_tokens, n_ctx - len(tokens))),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": s.top_k,
            "min_p": s.min_p,
            "repeat_penalty": s.repeat_penalty,        # llama.cpp, KoboldCpp
            "repetition_penalty": s.repeat_penalty,    # vLLM, TabbyAPI
            "stop": list(request.stop),
        }
        if s.seed >= 0:
            body["seed"] = s.seed
        t0 = time.perf_counter()
        t_first: float | None = None
        text: list[str] = []
        reason: StopReason = "cancelled"
        last: dict[str, Any] = {}
        try:
            for data in http.events("/v1/completions", body):
                if cancel.is_set():
                    break
                if "error" in data:
                    raise EngineError(f"the server stopped the reply: {str(data['error'])[:200]}")
                last = data
                choices = data.get("choices") or [{}]
                choice = choices[0] if isinstance(choices[0], dict) else {}
                piece = str(choice.get("text") or "")
                if piece:
                    if t_first is None:
                        t_first = time.perf_counter()
                    text.append(piece)
                    yield Chunk(piece)
                done = choice.get("finish_reason")
                if done:
                    reason = _REASONS.get(str(done), "stop")
                    break
                if cancel.is_set():
                    break
        except ServerGone:
            if not text:
                raise
            reason = "cancelled"
        timings: dict[str, Any] = last["timings"] if isinstance(last.get("timings"), dict) else {}
        cache_n = int(timings.get("cache_n", 0))
        usage: dict[str, Any] = last["usage"] if isinstance(last.get("usage"), dict) else {}
        metrics: dict[str, Any] = {
            "prompt_tokens": len(tokens),
            "reused_tokens": cache_n,
            "evaluated_tokens": len(tokens) - cache_n,
            "generated_tokens": int(usage.get("completion_tokens") or timings.get("predicted_n") or len(text)),
            "seed": s.seed,
            "engine": "openai",
            "exact_tokens": self.info.exact_tokens,
            "total_s": round(time.perf_counter() - t0, 4),
        }
        if t_first is not None:
            metrics["ttft_s"] = round(t_first - t0, 4)
        yield Finished("".join(text), reason, metrics)

    def warm(
        self, tokens: Sequence[int], cancel: threading.Event | None = None, *, shift: bool = True
    ) -> dict[str, Any]:
        return {"evaluated_tokens": 0, "seconds": 0.0}

    # -- no cache of its own that Candlelit can see -------------------------------
    def cached_tokens(self) -> list[int]:
        return []

    def reeval_seconds(self, tokens: Sequence[int]) -> float | None:
        return None

    def forget(self) -> None:
        pass

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        return 0

    def cache_key(self) -> str:
        return f"openai|{self.settings.url}|{self.model}"

    def state_size(self) -> int:
        return 0

    def state_blob(self) -> bytes | None:
        return None

    def load_state_blob(self, blob: bytes) -> int:
        return 0

