"""``LlamaCppEngine``: the ``Engine`` protocol in this process through
llama-cpp-python. One owner thread runs every model call (``owner.py``);
we feed the tokens ourselves, so reuse of the KV cache is an exact, measured
number. See docs/ARCHITECTURE.md, "The engine seam"."""

from __future__ import annotations

import codecs
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tui.core.engine import kv_ops
from tui.core.engine.api import (
    Chunk,
    EngineError,
    Finished,
    GenerationRequest,
    ModelInfo,
    StopReason,
    StreamEvent,
)
from tui.core.engine.owner import BACKGROUND, USER, OwnerThread
from tui.core.engine.settings import EngineSettings, auto_threads, openmp_defaults
from tui.core.engine.stopper import StopScanner


class LlamaCppEngine:
    """In-process llama.cpp through llama-cpp-python, owned by one thread."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._owner = OwnerThread("candlelit-engine", self._close_on_thread)
        self._llm: Any = None
        self._info: ModelInfo | None = None
        self._shift_ok = False
        self.prefill_tps: float | None = None   # prompt tokens/s of the last long evaluation
        self._aside: kv_ops.Snapshot | None = None  # the chat's cache while background jobs run

    # -- lifecycle -------------------------------------------------------
    def load(self) -> ModelInfo:
        """Start the owner thread and load the model on it (blocking)."""
        if self._info is not None:
            return self._info
        self._owner.start()
        self._info = self._call(self._load_on_thread)
        return self._info

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            return self.load()
        return self._info

    def close(self) -> None:
        self._owner.stop()

    def __enter__(self) -> LlamaCppEngine:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_on_thread(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass

    def _call(self, fn: Callable[[], Any], priority: int = USER, *, quick: bool = False) -> Any:
        return self._owner.call(fn, priority, quick=quick)

    def _load_on_thread(self) -> ModelInfo:
        openmp_defaults()
        import llama_cpp  # deferred: importing loads the shared library

        from tui.core.engine import llama_log

        llama_log.install()
        s = self.settings
        threads = s.n_threads or auto_threads()
        threads_batch = s.n_threads_batch or auto_threads()
        try:
            # two sequences in one unified cache: the scratch sequence lets a
            # context shift evaluate new memory in front of the kept window
            with kv_ops.two_sequences():
                llm = llama_cpp.Llama(
                    model_path=str(s.model_path),
                    n_ctx=s.n_ctx,
                    n_gpu_layers=s.n_gpu_layers,
                    n_threads=threads,
                    n_threads_batch=threads_batch,
                    n_batch=s.n_batch,
                    n_ubatch=s.n_batch,
                    flash_attn=s.flash_attn,
                    vocab_only=s.vocab_only,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            detail = llama_log.last_error() or str(exc)
            raise EngineError(
                f"llama.cpp could not load {s.model_path}: {detail}"
            ) from None
        self._llm = llm
        meta = dict(getattr(llm, "metadata", {}) or {})
        can_shift, shift_note = False, "tokenizer only"
        if not s.vocab_only:
            try:
                can_shift, shift_note = kv_ops.shift_support(llm)
            except (AttributeError, TypeError) as exc:
                can_shift, shift_note = False, f"cannot check shifting: {exc}"
        self._shift_ok = can_shift and s.context_shift
        bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
        eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
        return ModelInfo(
            path=s.model_path,
            name=str(meta.get("general.name") or s.model_path.stem),
            n_ctx=s.n_ctx if s.vocab_only else llm.n_ctx(),
            n_ctx_train=llm._model.n_ctx_train(),
            chat_template=meta.get("tokenizer.chat_template"),
            bos_token=bos,
            eos_token=eos,
            can_shift=can_shift,
            shift_note=shift_note,
            control_tokens=_control_tokens(llm),
        )

    # -- tokens --------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        """Exact tokens as the model sees them (special tokens parsed)."""
        self.info  # noqa: B018 - ensure loaded
        return self._call(
            lambda: self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True),
            quick=True,
        )

    def count(self, text: str) -> int:
        return len(self.tokenize(text, add_bos=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        self.info  # noqa: B018
        return self._call(
            lambda: self._llm.detokenize(list(tokens), special=True).decode("utf-8", "replace"),
            quick=True,
        )

    def cached_tokens(self) -> list[int]:
        """The chat's tokens held in the KV cache (for reuse reporting)."""
        self.info  # noqa: B018

        def read() -> list[int]:
            aside = self._aside
            toks = aside.tokens if aside is not None else self._llm._input_ids
            return [int(t) for t in toks]

        return self._call(read, quick=True)

    # -- generation ---------------------------------------------------------
    def stream(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> Iterator[StreamEvent]:
        """Generate on the owner thread; yield chunks as they come.

        The owner thread never waits for the consumer (events go through an
        unbounded queue), so a slow UI cannot slow generation down. Stopping
        the iteration early (``close()`` on the generator) cancels the job.
        """
        self.info  # noqa: B018
        cancel = cancel or threading.Event()
        out: queue.Queue[StreamEvent | BaseException] = queue.Queue()

        owner = self._owner

        def job() -> None:
            owner.running = cancel
            if request.background:
                owner.begin_background(cancel)

            def emit(ev: StreamEvent) -> None:
                if request.background and isinstance(ev, Finished) and ev.reason == "cancelled" and owner.preempted:
                    ev.metrics["preempted"] = True
                out.put(ev)

            try:
                if request.background:
                    self._set_chat_aside()
                else:
                    self._bring_chat_back()
                self._generate(request, cancel, emit)
            except BaseException as exc:  # noqa: BLE001 - handed to consumer
                out.put(exc)
            finally:
                owner.running = None
                if request.background:
                    owner.end_background()

        owner.submit(job, BACKGROUND if request.background else USER)
        try:
            while True:
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            cancel.set()

    def _generate(
        self,
        req: GenerationRequest,
        cancel: threading.Event,
        emit: Callable[[StreamEvent], None],
    ) -> None:
        tokens = list(req.tokens)
        t0 = time.perf_counter()
        max_tokens = self._room(tokens, req.sampling.max_tokens)
        between = self._owner.serve_quick if req.background else None
        metrics: dict[str, Any] = {"prompt_tokens": len(tokens)}
        metrics.update(self._prefill(tokens, cancel, between, shift=not req.background))
        if cancel.is_set():
            emit(Finished("", "cancelled", self._finish_metrics(metrics, t0, None, None, 0)))
            return
        s = req.sampling
        seed = s.seed if s.seed >= 0 else random.randrange(2**31)
        self._llm.set_seed(seed)
        metrics["seed"] = seed
        text, reason, n_gen, t_first, t_last = self._sample(tokens, req, max_tokens, cancel, emit, between)
        emit(Finished(text, reason, self._finish_metrics(metrics, t0, t_first, t_last, n_gen)))

    def _room(self, tokens: list[int], max_tokens: int) -> int:
        """How many tokens the reply may have; ``EngineError`` if the prompt
        does not fit at all."""
        if not tokens:
            raise EngineError("empty prompt")
        n_ctx = self._llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise EngineError(
                f"the prompt is {len(tokens)} tokens but the context holds {n_ctx}; "
                "raise model.n_ctx or shorten the card"
            )
        return max(1, min(max_tokens, n_ctx - len(tokens)))

    def _sample(
        self,
        tokens: list[int],
        req: GenerationRequest,
        max_tokens: int,
        cancel: threading.Event,
        emit: Callable[[StreamEvent], None],
        between: Callable[[], None] | None,
    ) -> tuple[str, StopReason, int, float | None, float | None]:
        """Sample after the prefilled prompt, emitting stop-safe chunks; the
        text, why it stopped, tokens generated, first and last token times."""
        import llama_cpp

        llm, s = self._llm, req.sampling
        scanner = StopScanner(req.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        reason: StopReason = "length"
        n_gen = 0
        t_first: float | None = None
        t_last: float | None = None
        vocab = llm._model.vocab
        is_eog = llama_cpp.llama_vocab_is_eog
        piece_of = llm._model.detokenize
        gen = llm.generate(
            tokens, top_k=s.top_k, top_p=s.top_p, min_p=s.min_p, temp=s.temperature, repeat_penalty=s.repeat_penalty
        )
        try:
            for tok in gen:
                t_last = time.perf_counter()
                if t_first is None:
                    t_first = t_last
                if is_eog(vocab, tok):
                    reason = "stop"
                    break
                n_gen += 1
                safe, hit = scanner.feed(decoder.decode(piece_of([tok], special=False)))
                if safe:
                    emit(Chunk(safe))
                if hit:
                    reason = "stop"
                    break
                if n_gen >= max_tokens:
                    reason = "length"
                    break
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if between is not None:
                    between()
        finally:
            gen.close()
        if reason != "stop":
            tail = scanner.flush(decoder.decode(b"", final=True))
            if tail:
                emit(Chunk(tail))
        return scanner.text, reason, n_gen, t_first, t_last

    def _prefill(
        self,
        tokens: list[int],
        cancel: threading.Event,
        between: Callable[[], None] | None = None,
        *,
        shift: bool = True,
    ) -> dict[str, int]:
        """Evaluate all prompt tokens but the last, reusing the KV cache.

        The cache's longest common prefix is kept; with context shift on, a
        later run of the cache that the new prompt still contains (the
        window after a summary cycle) is kept too and moved into place.
        Returns exact counts: ``reused_tokens`` (not evaluated, shifted
        included), ``shifted_tokens`` and ``evaluated_tokens``."""
        llm = self._llm
        cached = llm._input_ids
        common = kv_ops.common_prefix(cached, tokens)
        keep = min(common, len(tokens) - 1)
        shifted = inserted = 0
        plan = kv_ops.plan_shift(cached, tokens) if (shift and self._shift_ok) else None
        if plan is not None:
            kv_ops.apply_shift(llm, tokens, plan)
            keep, shifted, inserted = plan.kept, plan.length, plan.new_tokens
        elif keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            keep = 0
            llm.reset()
        # The last prompt token is left for generate(), which decodes it alone.
        # That costs one single-token decode (~20 ms on the default model) but
        # makes the first sampled token's logits the same whether the prompt
        # was cached or not, so a seed gives the same reply on a cache hit
        # (regenerate) as on a cold start. Evaluating it here instead was
        # measured: 23 ms faster TTFT, but a cache hit then changed the text.
        todo = tokens[keep:-1]
        step = max(1, llm.n_batch)
        done = 0
        t0 = time.perf_counter()
        for i in range(0, len(todo), step):
            if cancel.is_set():
                break
            if between is not None:
                between()
            llm.eval(todo[i : i + step])
            done += len(todo[i : i + step])
        if done >= 64:  # remembered to estimate re-evaluation costs
            self.prefill_tps = done / max(1e-6, time.perf_counter() - t0)
        reused = keep - inserted
        return {
            "reused_tokens": reused,
            "shifted_tokens": shifted,
            "evaluated_tokens": len(tokens) - reused,
            "prefilled_tokens": inserted + done,
        }

    # -- cache management (resume, background pre-evaluation) --------------
    def _set_chat_aside(self) -> None:
        """Before the first of a run of background jobs (a summary, then its
        facts), copy the chat's cache aside. The jobs then share the cache
        among themselves (the facts prompt continues the summary prompt)."""
        if self._aside is None and self._llm.n_tokens > 0:
            self._aside = kv_ops.snapshot(self._llm, self.settings.keep_cache_mb << 20)

    def _bring_chat_back(self) -> None:
        """Before anything for the chat, put its cache back if background
        jobs used the context meanwhile."""
        snap, self._aside = self._aside, None
        if snap is not None and not kv_ops.restore(self._llm, snap):
            self._llm.reset()

    def reeval_seconds(self, tokens: Sequence[int]) -> float | None:
        """About how long evaluating ``tokens`` exactly would take now, from
        the speed of the last long prompt evaluation (None: not measured yet)."""
        if not self.prefill_tps:
            return None
        cached = self.cached_tokens()
        return (len(tokens) - kv_ops.common_prefix(cached, tokens)) / self.prefill_tps

    def warm(
        self, tokens: Sequence[int], cancel: threading.Event | None = None, *, shift: bool = True
    ) -> dict[str, Any]:
        """Evaluate a prompt in the background so the next reply finds it
        cached: exactly (``shift=False``), or by shifting the cached window
        into place where the model allows. A user turn preempts it; what
        was evaluated by then stays cached."""
        self.info  # noqa: B018
        cancel = cancel or threading.Event()
        toks = list(tokens)

        def job() -> dict[str, Any]:
            self._owner.begin_background(cancel)
            try:
                self._bring_chat_back()
                t0 = time.perf_counter()
                if len(toks) < 2:
                    return {"evaluated_tokens": 0, "seconds": 0.0}
                out: dict[str, Any] = dict(self._prefill(toks, cancel, self._owner.serve_quick, shift=shift))
                out["cancelled"] = cancel.is_set()
                out["seconds"] = round(time.perf_counter() - t0, 4)
                return out
            finally:
                self._owner.end_background()

        return self._call(job, BACKGROUND)

    def cache_key(self) -> str:
        """What a saved cache depends on: the model file, the context and
        llama.cpp's build. A state file made under another key is stale."""
        import hashlib

        import llama_cpp

        s = self.settings
        st = s.model_path.stat()
        parts = [
            str(s.model_path.resolve()), str(st.st_size), str(st.st_mtime_ns),
            str(self.info.n_ctx), str(s.n_batch), str(s.flash_attn),
            str(getattr(llama_cpp, "__version__", "?")), "seq-v2",
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def state_size(self) -> int:
        """Bytes a state file of the current chat cache would take."""
        self.info  # noqa: B018
        def job() -> int:
            self._bring_chat_back()
            return kv_ops.seq_state_size(self._llm) if self._llm.n_tokens else 0

        return self._call(job)

    def forget(self) -> None:
        """Drop the chat from the engine: the KV cache, its tokens and the
        copy kept aside for background jobs (when an encrypted profile locks).
        A user job: it preempts a background one."""
        if not self._owner.started:
            return

        def job() -> None:
            self._aside = None
            self._llm._ctx.kv_cache_clear()
            self._llm.reset()
            self._llm.input_ids[:] = 0

        self._call(job)

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        """Cut the chat's cache back to its common prefix with ``tokens``
        (the current prompt): the dropped cells and their token ids go, so a
        state saved next holds only what that prompt holds."""
        self.info  # noqa: B018
        toks = list(tokens)

        def job() -> int:
            self._bring_chat_back()
            llm = self._llm
            keep = kv_ops.common_prefix(llm._input_ids, toks)
            if keep < llm.n_tokens:
                if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
                    llm.n_tokens = keep
                else:
                    keep = 0
                    llm._ctx.kv_cache_clear()
                    llm.reset()
            llm.input_ids[keep:] = 0
            return keep

        return self._call(job)

    def state_blob(self) -> bytes | None:
        """The chat cache (sequence 0) and its tokens as bytes, or None if empty."""
        self.info  # noqa: B018

        def job() -> bytes | None:
            self._bring_chat_back()
            return kv_ops.state_blob(self._llm) if self._llm.n_tokens else None

        return self._call(job)

    def load_state_blob(self, blob: bytes) -> int:
        """Load bytes made by ``state_blob``; returns the token count (0 on failure)."""
        self.info  # noqa: B018

        def job() -> int:
            self._aside = None
            toks = kv_ops.load_blob(self._llm, blob)
            if toks is None:
                self._llm.reset()
                return 0
            return len(toks)

        return self._call(job, BACKGROUND)

    @staticmethod
    def _finish_metrics(
        metrics: dict[str, Any],
        t0: float,
        t_first: float | None,
        t_last: float | None,
        n_gen: int,
    ) -> dict[str, Any]:
        end = time.perf_counter()
        metrics["generated_tokens"] = n_gen
        metrics["ttft_s"] = round(t_first - t0, 4) if t_first is not None else None
        if t_first is not None and t_last is not None and n_gen > 1 and t_last > t_first:
            metrics["tokens_per_s"] = round((n_gen - 1) / (t_last - t_first), 2)
        else:
            metrics["tokens_per_s"] = None
        metrics["total_s"] = round(end - t0, 4)
        return metrics


def _control_tokens(llm: Any) -> tuple[str, ...]:
    """The texts of the vocabulary's control tokens (what ``special=True``
    parses out of text; user-defined tokens match either way)."""
    import llama_cpp

    vocab = llm._model.vocab
    control = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
    attr = llama_cpp.llama_vocab_get_attr
    ids = [i for i in range(llama_cpp.llama_vocab_n_tokens(vocab)) if attr(vocab, i) & control]
    return tuple(llm.detokenize([i], special=True).decode("utf-8", "replace") for i in ids)
