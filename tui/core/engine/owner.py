"""The one thread that owns a llama.cpp context: a priority queue of jobs in
which user jobs preempt background ones, and quick read-only calls that a
background job serves between tokens. See docs/ARCHITECTURE.md, "The engine
seam"."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from tui.core.engine.api import EngineError

USER, BACKGROUND = 0, 10
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


class OwnerThread:
    """Runs jobs one at a time on its own thread. ``running`` is the cancel
    event of the job in progress (a stop sets it); a job marks itself as
    background with ``begin_background`` so that user jobs preempt it."""

    def __init__(self, name: str, on_exit: Callable[[], None]) -> None:
        self._name = name
        self._on_exit = on_exit
        self._jobs: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self.running: threading.Event | None = None
        # preemption bookkeeping, guarded by _lock
        self._lock = threading.Lock()
        self._users_waiting = 0                         # user jobs queued, not started
        self._background: threading.Event | None = None  # cancel event of a running background job
        self._preempted = False
        self._quick: queue.SimpleQueue[_QuickJob] = queue.SimpleQueue()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the job in progress and the thread (its ``on_exit`` runs there)."""
        if self._thread is not None:
            running = self.running
            if running is not None:
                running.set()  # stop a reply in progress instead of waiting for it
            self._jobs.put((-1, -1, _STOP_JOB))
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            _prio, _seq, job = self._jobs.get()
            if job is _STOP_JOB:
                break
            job()
            self.serve_quick()  # also drops entries already run from the queue
        self._on_exit()

    def submit(self, fn: Callable[[], None], priority: int) -> None:
        """Queue ``fn``; a user job preempts a running background job."""
        if self._thread is None:
            raise EngineError("the model is not loaded")
        job = fn
        if priority == USER:

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

    def call(self, fn: Callable[[], Any], priority: int = USER, *, quick: bool = False) -> Any:
        """Run ``fn`` on the owner thread and return its result.

        ``quick`` marks a short read-only call (no KV cache or sampler use):
        it does not preempt a background job, which runs it between tokens."""
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
            self.submit(job, priority)
        ok, value = box.get()
        if not ok:
            raise value
        return value

    def serve_quick(self) -> None:
        """Run quick read-only calls that came in while a background job runs."""
        while True:
            try:
                once = self._quick.get_nowait()
            except queue.Empty:
                return
            once()

    # -- background jobs (on the owner thread) --------------------------------
    def begin_background(self, cancel: threading.Event) -> None:
        """The job now running is background work that ``cancel`` stops; if a
        user job is already waiting, it is preempted before it starts."""
        with self._lock:
            self._background = cancel
            self._preempted = False
            if self._users_waiting:
                self._preempted = True
                cancel.set()

    @property
    def in_background(self) -> bool:
        """A background job is running now."""
        with self._lock:
            return self._background is not None

    @property
    def preempted(self) -> bool:
        with self._lock:
            return self._preempted

    def end_background(self) -> None:
        with self._lock:
            self._background = None
            self._preempted = False
