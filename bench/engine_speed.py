"""Generation speed: Candlelit's engine path against a bare llama-cpp-python loop.

Run from the repository root::

    .venv/bin/python bench/engine_speed.py                # the comparison
    .venv/bin/python bench/engine_speed.py --thread-sweep # bare loop at 1..cpu_count threads

Both sides load the same GGUF with the same settings (n_ctx, n_threads,
n_threads_batch, n_batch = n_ubatch, no GPU), sample with the same sampler
and seed, and generate the same fixed number of tokens from the same prompt.
The baseline drives a ``llama_cpp.Llama`` from its main thread the way a
minimal client would: ``generate()``, stop on an end-of-generation token,
``detokenize([tok])`` and UTF-8-decode every token. The engine side is
``LlamaCppEngine.stream()`` consumed from the main thread, as the CLI does:
the model on its owner thread, events through a queue, stop-string scanning,
incremental decoding.

Decode speed is measured the way the engine reports it: (generated - 1) /
(time of the last token - time of the first), so prompt evaluation is left
out; time to first token (TTFT) and end-to-end time are taken on the
caller's side for both.

Each side runs in its own worker process, started by this script and driven
round by round (one warm-up each, then bare/engine interleaved, the order
flipping every round), so load from other programs hits both alike. They
are separate processes on purpose: llama.cpp's CPU backend (an OpenMP
build) synchronises its threads with OpenMP barriers, and libgomp cuts its
spin-waiting down to almost nothing for every thread team in a process once
the process holds more OpenMP threads than CPUs. A bare Llama on the main
thread plus the engine's owner thread in one process is two teams, and that
slowed both sides by ~40% on a 2-core machine, hiding the real numbers
(``--same-process`` reproduces it). The app itself drives llama.cpp from one
thread only.

Every run evaluates its whole prompt: two prompts that differ in their first
word alternate, identically on both sides, so neither side ever finds more
than the BOS token in its KV cache (both then evaluate the same n-1 tokens).

Nothing here touches the network. The default model is the bundled one,
assembled into Candlelit's cache on first use.
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # benchmark the working tree, installed or not
    sys.path.insert(0, str(_ROOT))

from tui.bench.cli_args import positive_int  # noqa: E402

TARGET = 0.97

# Neutral narrative text (original). The two variants differ only in their
# first word, so alternating them forces a full prompt evaluation each run.
_STORY = """\
morning the ferry came in late, and the whole harbour town of Wrenmouth seemed to
hold its breath until the horn sounded from behind the breakwater. Ines Calloway
watched from the window of her clock shop on Tanner Street, a mug of tea cooling in
her hands. She had kept the shop for eleven years, ever since her uncle retired to
the hills, and in that time she had learned the rhythm of the town as well as she
knew the ticking of the long-case clocks that lined her walls.

Ines set down her mug and turned back to the workbench. A carriage clock lay open
in front of her, its brass movement spread across a square of green felt. It
belonged to the schoolmaster, who had brought it in the week before with an
apologetic smile and the explanation that it had stopped at a quarter past four
and refused to go any further. She had found the trouble quickly enough: a bent
pivot on the third wheel, nothing that patience and a steady hand could not put
right.

She worked slowly while a fine grey rain began to patter on the skylight. A bell
rang over the door. She looked up, expecting the schoolmaster, and instead saw a tall
stranger in a travelling coat, shaking water from the brim of his hat. He carried
a small wooden box under one arm, wrapped in oilcloth and tied with string, and he
set it on the counter as carefully as if it held eggs.

"I was told," he said, "that you are the only person on this coast who can mend
something like this." He untied the string, folded back the cloth, and lifted the
lid, and Ines leaned closer to see what lay inside. It was"""

PROMPTS = ("That " + _STORY, "One " + _STORY)

SAMPLER = {
    "temperature": 0.8,
    "top_p": 0.95,
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
}


class BenchError(Exception):
    """A setup problem reported as one line (no traceback)."""


# -- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What both sides load with."""

    model: Path
    n_ctx: int
    threads: int              # n_threads and n_threads_batch
    n_batch: int              # n_batch and n_ubatch


@dataclass
class Run:
    side: str
    prompt: int               # index into PROMPTS
    threads: int
    prompt_tokens: int
    generated: int
    decode_tps: float | None  # (generated-1) / (t_last - t_first)
    steady_tps: float | None  # 1 / median gap between pieces of text, caller side
    ttft_s: float             # call -> first text, caller side
    total_s: float            # call -> done, caller side
    text: str


def _decode_rate(n: int, t_first: float | None, t_last: float | None) -> float | None:
    if t_first is None or t_last is None or n < 2 or t_last <= t_first:
        return None
    return (n - 1) / (t_last - t_first)


def _steady_rate(stamps: Sequence[float]) -> float | None:
    """Tokens/s from the median gap between arrivals: a burst of load from
    another program stretches a few gaps, not the median."""
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    if not gaps:
        return None
    mid = statistics.median(gaps)
    return 1.0 / mid if mid > 0 else None


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _summary(runs: Sequence[Run]) -> dict[str, Any]:
    return {
        "decode_tps": _stats([r.decode_tps for r in runs if r.decode_tps is not None]),
        "steady_tps": _stats([r.steady_tps for r in runs if r.steady_tps is not None]),
        "ttft_s": _stats([r.ttft_s for r in runs]),
        "total_s": _stats([r.total_s for r in runs]),
        "generated": [r.generated for r in runs],
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# -- the two sides -------------------------------------------------------------


class Side(Protocol):
    name: str
    model_name: str
    prompt_tokens: list[list[int]]

    def run(self, prompt: int, n_gen: int, seed: int, threads: int | None = None) -> Run: ...

    def close(self) -> None: ...


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise BenchError(
            "llama-cpp-python is not installed in this environment (pip install llama-cpp-python)"
        ) from None
    return llama_cpp


class BareSide:
    """A bare ``llama_cpp.Llama`` driven from the calling thread."""

    name = "bare"

    def __init__(self, setup: Setup) -> None:
        from tui.core.engine import llama_log

        llama_cpp = _import_llama_cpp()
        llama_log.install()  # the engine installs it too; keeps C logs quiet
        self.setup = setup
        self.threads = setup.threads
        try:  # exactly the parameters LlamaCppEngine passes
            self.llm = llama_cpp.Llama(
                model_path=str(setup.model),
                n_ctx=setup.n_ctx,
                n_gpu_layers=0,
                n_threads=setup.threads,
                n_threads_batch=setup.threads,
                n_batch=setup.n_batch,
                n_ubatch=setup.n_batch,
                flash_attn=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BenchError(f"llama.cpp could not load {setup.model}: {exc}") from None
        meta = dict(getattr(self.llm, "metadata", {}) or {})
        self.model_name = str(meta.get("general.name") or setup.model.stem)
        self.prompt_tokens = [
            self.llm.tokenize(p.encode("utf-8"), add_bos=True, special=True) for p in PROMPTS
        ]

    def run(self, prompt: int, n_gen: int, seed: int, threads: int | None = None) -> Run:
        import llama_cpp

        llm = self.llm
        if threads is not None and threads != self.threads:
            llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
            self.threads = threads
        tokens = self.prompt_tokens[prompt]
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        is_eog = llama_cpp.llama_vocab_is_eog
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        parts: list[str] = []
        stamps: list[float] = []
        n = 0
        t_first: float | None = None
        t_last: float | None = None
        t0 = time.perf_counter()
        llm.set_seed(seed)
        gen = llm.generate(
            tokens,
            top_k=SAMPLER["top_k"],
            top_p=SAMPLER["top_p"],
            min_p=SAMPLER["min_p"],
            temp=SAMPLER["temperature"],
            repeat_penalty=SAMPLER["repeat_penalty"],
        )
        try:
            for tok in gen:
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                t_last = now
                if is_eog(vocab, tok):
                    break
                n += 1
                piece = decoder.decode(llm.detokenize([tok]))
                if piece:
                    parts.append(piece)
                    stamps.append(time.perf_counter())
                if n >= n_gen:
                    break
        finally:
            gen.close()
        parts.append(decoder.decode(b"", final=True))
        end = time.perf_counter()
        return Run(
            side=self.name,
            prompt=prompt,
            threads=self.threads,
            prompt_tokens=len(tokens),
            generated=n,
            decode_tps=_decode_rate(n, t_first, t_last),
            steady_tps=_steady_rate(stamps),
            ttft_s=stamps[0] - t0 if stamps else end - t0,
            total_s=end - t0,
            text="".join(parts),
        )

    def close(self) -> None:
        self.llm.close()


class EngineSide:
    """Candlelit's ``LlamaCppEngine``, consumed the way the CLI consumes it."""

    name = "engine"

    def __init__(self, setup: Setup) -> None:
        from tui.core.engine.api import EngineError
        from tui.core.engine.llama import LlamaCppEngine
        from tui.core.engine.settings import EngineSettings

        _import_llama_cpp()
        self.setup = setup
        self.engine = LlamaCppEngine(
            EngineSettings(
                model_path=setup.model,
                n_ctx=setup.n_ctx,
                n_threads=setup.threads,
                n_threads_batch=setup.threads,
                n_batch=setup.n_batch,
            )
        )
        try:
            self.model_name = self.engine.load().name
            self.prompt_tokens = [self.engine.tokenize(p) for p in PROMPTS]
        except EngineError as exc:
            self.engine.close()
            raise BenchError(str(exc)) from None

    def run(self, prompt: int, n_gen: int, seed: int, threads: int | None = None) -> Run:
        from tui.core.engine.api import Chunk, Finished, GenerationRequest, Sampling

        if threads is not None and threads != self.setup.threads:
            raise BenchError("the engine side runs at its load-time thread count only")
        sampling = Sampling(
            temperature=SAMPLER["temperature"],
            top_p=SAMPLER["top_p"],
            top_k=SAMPLER["top_k"],
            min_p=SAMPLER["min_p"],
            repeat_penalty=SAMPLER["repeat_penalty"],
            seed=seed,
            max_tokens=n_gen,
        )
        tokens = self.prompt_tokens[prompt]
        request = GenerationRequest(tokens=tokens, sampling=sampling, stop=())
        stamps: list[float] = []
        finished: Finished | None = None
        t0 = time.perf_counter()
        for event in self.engine.stream(request):
            if isinstance(event, Chunk):
                if event.text:
                    stamps.append(time.perf_counter())
            elif isinstance(event, Finished):
                finished = event
        end = time.perf_counter()
        if finished is None:  # pragma: no cover - stream() always ends with Finished
            raise BenchError("the engine stream ended without a Finished event")
        m = finished.metrics
        return Run(
            side=self.name,
            prompt=prompt,
            threads=self.setup.threads,
            prompt_tokens=int(m.get("prompt_tokens", len(tokens))),
            generated=int(m.get("generated_tokens", 0)),
            decode_tps=m.get("tokens_per_s"),
            steady_tps=_steady_rate(stamps),
            ttft_s=stamps[0] - t0 if stamps else end - t0,
            total_s=end - t0,
            text=finished.text,
        )

    def close(self) -> None:
        self.engine.close()


def _make_side(kind: str, setup: Setup) -> BareSide | EngineSide:
    return BareSide(setup) if kind == "bare" else EngineSide(setup)


# -- worker processes ------------------------------------------------------------


class WorkerSide:
    """A side living in its own Python process, driven over a pipe (JSON lines)."""

    def __init__(self, kind: str, setup: Setup) -> None:
        self.name = kind
        self._stderr = tempfile.TemporaryFile()
        cmd = [
            sys.executable, str(Path(__file__).resolve()), "--worker", kind,
            "--model", str(setup.model), "--n-ctx", str(setup.n_ctx),
            "--threads", str(setup.threads), "--n-batch", str(setup.n_batch),
        ]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, encoding="utf-8",
        )
        try:
            hello = self._receive()
        except BaseException:
            self.close()
            raise
        self.model_name = str(hello["model_name"])
        self.prompt_tokens = [list(t) for t in hello["prompt_tokens"]]

    def _receive(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
            detail = tail[-1] if tail else f"exit status {self._proc.returncode}"
            raise BenchError(f"the {self.name} worker stopped: {detail}")
        msg = json.loads(line)
        if "error" in msg:
            raise BenchError(str(msg["error"]))
        return msg

    def run(self, prompt: int, n_gen: int, seed: int, threads: int | None = None) -> Run:
        assert self._proc.stdin is not None
        cmd = {"cmd": "run", "prompt": prompt, "n_gen": n_gen, "seed": seed, "threads": threads}
        try:
            self._proc.stdin.write(json.dumps(cmd) + "\n")
            self._proc.stdin.flush()
        except OSError:  # the worker is gone; _receive says why
            pass
        return Run(**self._receive()["run"])

    def close(self) -> None:
        try:
            if self._proc.poll() is None and self._proc.stdin is not None:
                self._proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        finally:
            self._stderr.close()


def worker_main(kind: str, setup: Setup) -> int:
    """The worker's loop: load one side, then answer run commands on stdin."""
    from tui.core.engine.api import EngineError

    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything else printed to stdout must not corrupt the protocol

    def send(msg: dict[str, Any]) -> None:
        proto.write(json.dumps(msg) + "\n")

    try:
        side = _make_side(kind, setup)
    except (BenchError, EngineError) as exc:
        send({"error": str(exc)})
        return 2
    try:
        send({"model_name": side.model_name, "prompt_tokens": side.prompt_tokens})
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd.get("cmd") != "run":
                break
            try:
                r = side.run(cmd["prompt"], cmd["n_gen"], cmd["seed"], cmd.get("threads"))
            except (BenchError, EngineError) as exc:
                send({"error": str(exc)})
                continue
            send({"run": asdict(r)})
    except KeyboardInterrupt:
        return 130
    finally:
        side.close()
    return 0


# -- the comparison --------------------------------------------------------------


def _open_sides(kinds: Sequence[str], setup: Setup, same_process: bool) -> list[Side]:
    sides: list[Side] = []
    try:
        for kind in kinds:
            sides.append(_make_side(kind, setup) if same_process else WorkerSide(kind, setup))
    except BaseException:
        for side in sides:
            side.close()
        raise
    return sides


def compare(
    setup: Setup, *, n_gen: int, runs: int, seed: int, same_process: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    t = time.perf_counter()
    bare, engine = _open_sides(("bare", "engine"), setup, same_process)
    try:
        log(f"loaded both sides in {time.perf_counter() - t:.1f}s "
            f"({'one process' if same_process else 'one worker process each'})")
        if bare.prompt_tokens != engine.prompt_tokens:
            raise BenchError("the two sides tokenize the prompts differently")
        longest = max(len(t) for t in bare.prompt_tokens)
        if longest + n_gen >= setup.n_ctx:
            raise BenchError(
                f"--n-ctx {setup.n_ctx} cannot hold a {longest}-token prompt plus {n_gen} tokens"
            )
        # Warm up on prompt 1 so that round 1 (prompt 0) starts from the other prompt.
        log("warm-up")
        bare.run(1, n_gen, seed)
        engine.run(1, n_gen, seed)
        results: dict[str, list[Run]] = {"bare": [], "engine": []}
        for i in range(runs):
            p = i % 2
            for side in (bare, engine) if i % 2 == 0 else (engine, bare):
                r = side.run(p, n_gen, seed)
                results[side.name].append(r)
                log(f"round {i + 1}/{runs} {side.name:6} prompt {'AB'[p]}: "
                    f"decode {_fmt(r.decode_tps, 1)} tok/s, steady {_fmt(r.steady_tps, 1)}, "
                    f"ttft {r.ttft_s:.3f}s, {r.generated} tokens")
        model_name = engine.model_name
    finally:
        bare.close()
        engine.close()

    b, e = results["bare"], results["engine"]
    sb, se = _summary(b), _summary(e)
    return {
        "model": str(setup.model),
        "model_name": model_name,
        "isolation": "same-process" if same_process else "process-per-side",
        "settings": {
            "n_ctx": setup.n_ctx,
            "n_threads": setup.threads,
            "n_threads_batch": setup.threads,
            "n_batch": setup.n_batch,
            "n_gpu_layers": 0,
            "tokens": n_gen,
            "runs": runs,
            "seed": seed,
            "sampler": dict(SAMPLER),
            "cpu_count": os.cpu_count(),
        },
        "prompt_tokens": [len(t) for t in bare.prompt_tokens],
        "bare": sb,
        "engine": se,
        "ratio": {
            "decode_tps": _ratio(se["decode_tps"]["median"], sb["decode_tps"]["median"]),
            "steady_tps": _ratio(se["steady_tps"]["median"], sb["steady_tps"]["median"]),
            "ttft_s": _ratio(se["ttft_s"]["median"], sb["ttft_s"]["median"]),
            "total_s": _ratio(se["total_s"]["median"], sb["total_s"]["median"]),
        },
        "target_decode_ratio": TARGET,
        "generated_counts_equal": all(x.generated == y.generated for x, y in zip(b, e, strict=True)),
        "full_count_generated": all(r.generated == n_gen for r in b + e),
        "same_text_rounds": sum(x.text == y.text for x, y in zip(b, e, strict=True)),
        "runs_detail": [{k: v for k, v in asdict(r).items() if k != "text"} for r in b + e],
    }


# -- the thread sweep --------------------------------------------------------------


def sweep(
    setup: Setup, *, n_gen: int, runs: int, seed: int, same_process: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The bare loop at 1..cpu_count threads (generation and batch), one model.

    The thread count is switched on the one context (llama_set_n_threads)
    between runs, so the counts are interleaved round by round.
    """
    from tui.core.engine.settings import auto_threads

    counts = list(range(1, (os.cpu_count() or 1) + 1))
    (bare,) = _open_sides(("bare",), Setup(setup.model, setup.n_ctx, counts[-1], setup.n_batch),
                          same_process)
    results: dict[int, list[Run]] = {n: [] for n in counts}
    k = 0  # alternate the prompts on every run: each run evaluates its prompt in full

    def one(n: int) -> Run:
        nonlocal k
        k += 1
        return bare.run(k % 2, n_gen, seed, threads=n)

    try:
        log("warm-up")
        for n in counts:
            one(n)
        for i in range(runs):
            for n in counts if i % 2 == 0 else counts[::-1]:
                r = one(n)
                results[n].append(r)
                log(f"round {i + 1}/{runs} threads {n}: decode {_fmt(r.decode_tps, 1)} tok/s, "
                    f"steady {_fmt(r.steady_tps, 1)}, ttft {r.ttft_s:.3f}s")
    finally:
        bare.close()
    return {
        "model": str(setup.model),
        "settings": {"n_ctx": setup.n_ctx, "n_batch": setup.n_batch, "tokens": n_gen,
                     "runs": runs, "seed": seed, "cpu_count": os.cpu_count()},
        "auto_threads": auto_threads(),
        "threads": {str(n): _summary(rs) for n, rs in results.items()},
    }


# -- output ------------------------------------------------------------------------


def _fmt(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _range(d: dict[str, float | None]) -> str:
    return f"{_fmt(d['median'], 2)} ({_fmt(d['min'], 1)}-{_fmt(d['max'], 1)})"


def print_compare(res: dict[str, Any]) -> None:
    s = res["settings"]
    print(f"model    {res['model_name']} ({res['model']})")
    print(
        f"settings n_ctx={s['n_ctx']} threads={s['n_threads']}/{s['n_threads_batch']} "
        f"n_batch={s['n_batch']} seed={s['seed']} tokens={s['tokens']} "
        f"runs={s['runs']} (+1 warm-up each, interleaved) cpus={s['cpu_count']}"
    )
    print(f"sides    {res['isolation']}")
    print(f"prompts  {' and '.join(str(n) for n in res['prompt_tokens'])} tokens (alternated)")
    print()
    print(f"{'side':7} {'decode tok/s med (min-max)':>27} {'steady tok/s med (min-max)':>27} "
          f"{'ttft s':>7} {'total s':>8}  generated")
    for side in ("bare", "engine"):
        d = res[side]
        print(
            f"{side:7} {_range(d['decode_tps']):>27} {_range(d['steady_tps']):>27} "
            f"{_fmt(d['ttft_s']['median'], 3):>7} {_fmt(d['total_s']['median'], 3):>8}  "
            f"{','.join(map(str, d['generated']))}"
        )
    r = res["ratio"]
    print()
    print("decode = (tokens-1)/(last-first token), as the engine reports it; steady = 1/median")
    print("gap between tokens at the caller; ttft and total are medians, caller side")
    print(f"ratio engine/bare steady tok/s: {_fmt(r['steady_tps'], 3)}  ttft: {_fmt(r['ttft_s'], 3)}"
          f"  total time: {_fmt(r['total_s'], 3)}")
    counts = "equal" if res["generated_counts_equal"] else "DIFFERENT"
    full = "" if res["full_count_generated"] else f" (some runs stopped before {s['tokens']})"
    print(f"generated token counts: {counts}{full}; identical text in "
          f"{res['same_text_rounds']}/{s['runs']} rounds")
    print(f"ratio engine/bare decode tok/s: {_fmt(r['decode_tps'], 2)} (target >= {TARGET})")


def print_sweep(res: dict[str, Any]) -> None:
    s = res["settings"]
    print(f"thread sweep, bare loop: tokens={s['tokens']} runs={s['runs']} (+1 warm-up each, "
          f"interleaved) n_ctx={s['n_ctx']} n_batch={s['n_batch']} cpus={s['cpu_count']}")
    print(f"{'threads':>7} {'decode tok/s med (min-max)':>27} {'steady tok/s med (min-max)':>27} "
          f"{'ttft s':>7}")
    for n, d in res["threads"].items():
        mark = "  <- auto_threads()" if int(n) == res["auto_threads"] else ""
        print(f"{n:>7} {_range(d['decode_tps']):>27} {_range(d['steady_tps']):>27} "
              f"{_fmt(d['ttft_s']['median'], 3):>7}{mark}")


# -- CLI -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="engine_speed.py",
        description="Generation speed through Candlelit's engine vs a bare llama_cpp.Llama loop.",
    )
    p.add_argument("--model", help="GGUF file (default: the bundled default model)")
    p.add_argument("--tokens", type=positive_int, default=128, help="tokens generated per run (128)")
    p.add_argument("--runs", type=positive_int, default=5, help="measured rounds per side (5)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="n_threads and n_threads_batch for both sides (default: auto_threads())")
    p.add_argument("--n-ctx", type=positive_int, default=2048, help="context size (2048)")
    p.add_argument("--n-batch", type=positive_int, default=512, help="n_batch and n_ubatch (512)")
    p.add_argument("--seed", type=int, default=1234, help="sampler seed for every run (1234)")
    p.add_argument("--thread-sweep", action="store_true",
                   help="measure the bare loop at 1..cpu_count threads instead")
    p.add_argument("--same-process", action="store_true",
                   help="diagnostic: run both sides in this process (libgomp then slows both)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--worker", choices=("bare", "engine"), help=argparse.SUPPRESS)
    return p


def _resolve_model(arg: str | None) -> Path:
    from tui.core import paths
    from tui.core.engine.model_files import ModelFileError, ensure_default_model, resolve_model_path, text_progress

    try:
        if arg:
            return resolve_model_path(arg, paths.resolve().models)
        return ensure_default_model(paths.resolve().models, text_progress())
    except ModelFileError as exc:
        raise BenchError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # the same OpenMP spin settings the engine uses, for both sides (workers inherit them)
    from tui.core.engine.settings import openmp_defaults

    openmp_defaults()
    from tui.core.engine.api import EngineError
    from tui.core.engine.settings import auto_threads

    if args.worker:  # internal: one side in its own process, driven by the parent
        setup = Setup(Path(args.model), args.n_ctx, args.threads or auto_threads(), args.n_batch)
        return worker_main(args.worker, setup)

    def log(line: str) -> None:
        if not args.json:
            print(f"  {line}", file=sys.stderr, flush=True)

    try:
        setup = Setup(
            _resolve_model(args.model), args.n_ctx, args.threads or auto_threads(), args.n_batch
        )
        if args.thread_sweep:
            res = sweep(setup, n_gen=args.tokens, runs=args.runs, seed=args.seed,
                        same_process=args.same_process, log=log)
        else:
            res = compare(setup, n_gen=args.tokens, runs=args.runs, seed=args.seed,
                          same_process=args.same_process, log=log)
    except (BenchError, EngineError) as exc:
        print(f"engine_speed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engine_speed: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(res, indent=2))
    elif args.thread_sweep:
        print_sweep(res)
    else:
        print_compare(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
