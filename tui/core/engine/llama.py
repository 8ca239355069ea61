"""The model: a small ``Engine`` protocol and ``LlamaCppEngine``.

One thread owns the ``llama_cpp.Llama`` object and every model call runs on
it (llama.cpp contexts are not thread-safe). Callers submit jobs; user turns
get a higher priority than background jobs. ``stream()`` yields text chunks
as they are sampled and a final ``Finished`` carrying the full text, why it
stopped, and the metrics the status bar and ``chat show`` report.

We feed tokens ourselves: the caller tokenizes the rendered prompt, we find
the longest common prefix with what is already in the KV cache, evaluate the
rest in ``n_batch`` chunks (checking cancel between chunks), and only then
hand over to ``Llama.generate``, which finds everything but the last token
cached. That makes "tokens reused" an exact, measured number.

Preemption: a user job never waits for a background one. Submitting a user
generation (or any other user-priority job) while a background generation
runs sets that job's cancel event, so it ends within a token (or one prefill
batch) with reason ``"cancelled"`` and ``metrics["preempted"] = True``; a
background job that starts while a user job is waiting is cancelled before
it evaluates anything. Quick read-only calls (``tokenize``, ``detokenize``,
``cached_tokens``) do not preempt: a running background job serves them
between tokens, so counting tokens never kills a summary.
"""

from __future__ import annotations

import codecs
import itertools
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
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
from tui.core.engine.stopper import StopScanner


@dataclass(frozen=True)
class EngineSettings:
    model_path: Path
    n_ctx: int = 4096
    n_gpu_layers: int = 0
    n_threads: int = 0          # 0 = auto
    n_threads_batch: int = 0    # 0 = auto
    n_batch: int = 512
    flash_attn: bool = False    # measured: 1.12x prompt speed, but cache hits stop matching cold runs (README)
    vocab_only: bool = False    # tokenizer only (fast; for `candlelit prompt`)
    context_shift: bool = True  # keep the window by shifting it when memory changes
    keep_cache_mb: int = 1024   # largest chat cache copied aside around a background job


def auto_threads() -> int:
    """Threads for generation when the config says 0.

    llama-cpp-python's own default is cpu_count()//2, which is a single
    thread on a 2-core laptop. We use every core the process may run on
    (measured in bench/engine_speed.py: 2 threads beat 1 on 2 cores)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n)


def openmp_defaults() -> None:
    """Bound OpenMP spin-waiting before llama.cpp (and libgomp) is loaded.

    llama.cpp's OpenMP workers spin-wait between ops. When another thread or
    process wants a core (the TUI's event loop, a browser), long spins stall
    the barrier and speed collapses. Measured on 2 cores, default model, TUI
    with one busy process beside it: default spinning 3-4 tok/s;
    OMP_WAIT_POLICY=PASSIVE 11 tok/s but 27 instead of 46 tok/s when quiet;
    GOMP_SPINCOUNT=10000 12-14 tok/s busy and 46 tok/s quiet. A user's own
    OMP_WAIT_POLICY / GOMP_SPINCOUNT win.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "10000")


_USER, _BACKGROUND = 0, 10
_STOP_JOB = object()


class _QuickJob:
    """A read-only call that may run either from the queue or between the
    tokens of a background job, whichever comes first (exactly once)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self._taken = threading.Lock()

    def __call__(self) -> None:
        if self._taken.acquire(blocking=False):
            self._fn()


class LlamaCppEngine:
    """In-process llama.cpp through llama-cpp-python, owned by one thread."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self._jobs: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._llm: Any = None
        self._info: ModelInfo | None = None
        self._running: threading.Event | None = None  # cancel event of the job in progress
        # preemption bookkeeping, guarded by _lock
        self._lock = threading.Lock()
        self._users_waiting = 0                         # user jobs queued, not started
        self._background: threading.Event | None = None  # cancel event of a running background job
        self._preempted = False
        self._quick: queue.SimpleQueue[_QuickJob] = queue.SimpleQueue()
        self._shift_ok = False
        self.prefill_tps: float | None = None   # prompt tokens/s of the last long evaluation
        self._aside: kv_ops.Snapshot | None = None  # the chat's cache while background jobs run

    # -- lifecycle -------------------------------------------------------
    def load(self) -> ModelInfo:
        """Start the owner thread and load the model on it (blocking)."""
        if self._info is not None:
            return self._info
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="candlelit-engine", daemon=True
            )
            self._thread.start()
        self._info = self._call(self._load_on_thread)
        return self._info

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            return self.load()
        return self._info

    def close(self) -> None:
        if self._thread is not None:
            running = self._running
            if running is not None:
                running.set()  # stop a reply in progress instead of waiting for it
            self._jobs.put((-1, -1, _STOP_JOB))
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> LlamaCppEngine:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the owner thread --------------------------------------------------
    def _run(self) -> None:
        while True:
            _prio, _seq, job = self._jobs.get()
            if job is _STOP_JOB:
                break
            job()
            self._serve_quick()  # also drops entries already run from the queue
        llm, self._llm = self._llm, None
        if llm is not None:
            try:
                llm.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass

    def _submit(self, fn: Callable[[], None], priority: int) -> None:
        """Queue ``fn``; a user job preempts a running background generation."""
        if self._thread is None:
            raise EngineError("the model is not loaded")
        job = fn
        if priority == _USER:

            def job() -> None:
                with self._lock:
                    self._users_waiting -= 1
                fn()

            with self._lock:
                self._users_waiting += 1
                if self._background is not None and not self._background.is_set():
                    self._preempted = True
                    self._background.set()
        self._jobs.put((priority, next(self._seq), job))

    def _call(self, fn: Callable[[], Any], priority: int = _USER, *, quick: bool = False) -> Any:
        """Run ``fn`` on the owner thread and return its result.

        ``quick`` marks a short read-only call (no KV cache or sampler use):
        it does not preempt a background generation, which runs it between
        tokens instead."""
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def job() -> None:
            try:
                box.put((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - re-raised in caller
                box.put((False, exc))

        if quick:
            if self._thread is None:
                raise EngineError("the model is not loaded")
            once = _QuickJob(job)
            self._quick.put(once)  # served between tokens of a background job
            self._jobs.put((priority, next(self._seq), once))  # or from the queue
        else:
            self._submit(job, priority)
        ok, value = box.get()
        if not ok:
            raise value
        return value

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

        def job() -> None:
            self._running = cancel
            if request.background:
                with self._lock:
                    self._background = cancel
                    self._preempted = False
                    if self._users_waiting:  # a user job came in meanwhile
                        self._preempted = True
                        cancel.set()

            def emit(ev: StreamEvent) -> None:
                if request.background and isinstance(ev, Finished) and ev.reason == "cancelled":
                    with self._lock:
                        if self._preempted:
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
                self._running = None
                if request.background:
                    with self._lock:
                        self._background = None
                        self._preempted = False

        self._submit(job, _BACKGROUND if request.background else _USER)
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
        llm = self._llm
        s = req.sampling
        tokens = list(req.tokens)
        t0 = time.perf_counter()
        if not tokens:
            raise EngineError("empty prompt")
        n_ctx = llm.n_ctx()
        if len(tokens) >= n_ctx:
            raise EngineError(
                f"the prompt is {len(tokens)} tokens but the context holds {n_ctx}; "
                "raise model.n_ctx or shorten the card"
            )
        max_tokens = max(1, min(s.max_tokens, n_ctx - len(tokens)))

        between = self._serve_quick if req.background else None
        metrics: dict[str, Any] = {"prompt_tokens": len(tokens)}
        metrics.update(self._prefill(tokens, cancel, between, shift=not req.background))
        if cancel.is_set():
            emit(Finished("", "cancelled", self._finish_metrics(metrics, t0, None, None, 0)))
            return
        seed = s.seed if s.seed >= 0 else random.randrange(2**31)
        llm.set_seed(seed)
        metrics["seed"] = seed

        scanner = StopScanner(req.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        reason: StopReason = "length"
        n_gen = 0
        t_first: float | None = None
        t_last: float | None = None
        import llama_cpp

        vocab = llm._model.vocab
        is_eog = llama_cpp.llama_vocab_is_eog
        piece_of = llm._model.detokenize
        gen = llm.generate(
            tokens,
            top_k=s.top_k,
            top_p=s.top_p,
            min_p=s.min_p,
            temp=s.temperature,
            repeat_penalty=s.repeat_penalty,
        )
        try:
            for tok in gen:
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                t_last = now
                if is_eog(vocab, tok):
                    reason = "stop"
                    break
                n_gen += 1
                piece = decoder.decode(piece_of([tok], special=False))
                safe, hit = scanner.feed(piece)
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
        emit(
            Finished(
                scanner.text,
                reason,
                self._finish_metrics(metrics, t0, t_first, t_last, n_gen),
            )
        )

    def _serve_quick(self) -> None:
        """Run quick read-only calls that came in while a background job runs."""
        while True:
            try:
                once = self._quick.get_nowait()
            except queue.Empty:
                return
            once()

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
            with self._lock:
                self._background = cancel
                if self._users_waiting:
                    cancel.set()
            try:
                self._bring_chat_back()
                t0 = time.perf_counter()
                if len(toks) < 2:
                    return {"evaluated_tokens": 0, "seconds": 0.0}
                out: dict[str, Any] = dict(self._prefill(toks, cancel, self._serve_quick, shift=shift))
                out["cancelled"] = cancel.is_set()
                out["seconds"] = round(time.perf_counter() - t0, 4)
                return out
            finally:
                with self._lock:
                    self._background = None
                    self._preempted = False

        return self._call(job, _BACKGROUND)

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
        if self._thread is None:
            return

        def job() -> None:
            self._aside = None
            self._llm._ctx.kv_cache_clear()
            self._llm.reset()
            self._llm.input_ids[:] = 0

        self._call(job)

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

        return self._call(job, _BACKGROUND)

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
