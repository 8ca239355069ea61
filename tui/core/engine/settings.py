"""How to run llama.cpp in this process: ``EngineSettings`` and the thread
defaults that were measured on small machines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
