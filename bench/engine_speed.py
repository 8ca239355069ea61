"""Generation speed: Candlelit's engine path against a bare llama-cpp-python loop.

Run from the repository root::

    .venv/bin/python bench/engine_speed.py                # the comparison
    .venv/bin/python bench/engine_speed.py --thread-sweep # bare loop at 1..cpu_count threads

Both sides load the same GGUF with the same settings (n_ctx, n_threads,
n_threads_batch, n_batch/n_ubatch, no GPU), sample with the same sampler and
seed, and generate the same fixed number of tokens from the same prompt, in
the same process. The baseline is a ``llama_cpp.Llama`` driven from the main
thread the way a minimal client would: ``generate()``, stop on an
end-of-generation token, ``detokenize([tok])`` and UTF-8 decode each token.
The engine side is ``LlamaCppEngine.stream()``: the model on its own owner
thread, events through a queue, stop-string scanning, incremental decoding.

Decode speed is measured the way the engine reports it: (generated - 1) /
(time of the last token - time of the first token), so prompt evaluation is
excluded; time to first token (TTFT) and end-to-end time are measured from
the caller's side for both.

Every run evaluates its whole prompt: two prompts that differ in their first
word are alternated, identically on both sides, so neither side ever finds
more than the BOS token in its KV cache (both then evaluate the same n-1
tokens). Runs are interleaved (after one warm-up per side) and the order
within a round alternates, so load from other processes hits both sides
alike; we report medians, min and max, and the engine/bare ratio of medians.

Nothing here touches the network. The default model is the bundled one,
assembled into Candlelit's cache on first use.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # benchmark the working tree, installed or not
    sys.path.insert(0, str(_ROOT))

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


@dataclass
class Run:
    side: str
    prompt: int               # index into PROMPTS
    prompt_tokens: int
    generated: int
    decode_tps: float | None  # (generated-1) / (t_last - t_first)
    ttft_s: float             # call -> first token's text, caller side
    total_s: float            # call -> done, caller side
    text: str


def _decode_rate(n: int, t_first: float | None, t_last: float | None) -> float | None:
    if t_first is None or t_last is None or n < 2 or t_last <= t_first:
        return None
    return (n - 1) / (t_last - t_first)


def _summary(runs: Sequence[Run]) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"median": None, "min": None, "max": None}
        return {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }

    return {
        "decode_tps": stats([r.decode_tps for r in runs if r.decode_tps is not None]),
        "ttft_s": stats([r.ttft_s for r in runs]),
        "total_s": stats([r.total_s for r in runs]),
        "generated": [r.generated for r in runs],
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# -- the two sides -------------------------------------------------------------


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise BenchError(
            "llama-cpp-python is not installed in this environment (pip install llama-cpp-python)"
        ) from None
    return llama_cpp


def _load_bare(model: Path, n_ctx: int, threads: int, n_batch: int) -> Any:
    """A bare Llama with exactly the parameters LlamaCppEngine passes."""
    llama_cpp = _import_llama_cpp()
    try:
        return llama_cpp.Llama(
            model_path=str(model),
            n_ctx=n_ctx,
            n_gpu_layers=0,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=n_batch,
            n_ubatch=n_batch,
            flash_attn=False,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise BenchError(f"llama.cpp could not load {model}: {exc}") from None


def bare_run(llm: Any, tokens: list[int], n_gen: int, seed: int, prompt: int) -> Run:
    """One generation the way a minimal client drives llama-cpp-python."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    is_eog = llama_cpp.llama_vocab_is_eog
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    n = 0
    t_first: float | None = None
    t_last: float | None = None
    ttft: float | None = None
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
                if ttft is None:
                    ttft = time.perf_counter() - t0
            if n >= n_gen:
                break
    finally:
        gen.close()
    parts.append(decoder.decode(b"", final=True))
    end = time.perf_counter()
    return Run(
        side="bare",
        prompt=prompt,
        prompt_tokens=len(tokens),
        generated=n,
        decode_tps=_decode_rate(n, t_first, t_last),
        ttft_s=ttft if ttft is not None else end - t0,
        total_s=end - t0,
        text="".join(parts),
    )


def engine_run(engine: Any, tokens: list[int], n_gen: int, seed: int, prompt: int) -> Run:
    """One generation through LlamaCppEngine.stream(), consumed like the CLI does."""
    from tui.core.engine import Chunk, Finished, GenerationRequest, Sampling

    sampling = Sampling(
        temperature=SAMPLER["temperature"],
        top_p=SAMPLER["top_p"],
        top_k=SAMPLER["top_k"],
        min_p=SAMPLER["min_p"],
        repeat_penalty=SAMPLER["repeat_penalty"],
        seed=seed,
        max_tokens=n_gen,
    )
    request = GenerationRequest(tokens=tokens, sampling=sampling, stop=())
    parts: list[str] = []
    ttft: float | None = None
    finished: Finished | None = None
    t0 = time.perf_counter()
    for event in engine.stream(request):
        if isinstance(event, Chunk):
            parts.append(event.text)
            if ttft is None and event.text:
                ttft = time.perf_counter() - t0
        elif isinstance(event, Finished):
            finished = event
    end = time.perf_counter()
    if finished is None:  # pragma: no cover - stream() always ends with Finished
        raise BenchError("the engine stream ended without a Finished event")
    m = finished.metrics
    return Run(
        side="engine",
        prompt=prompt,
        prompt_tokens=int(m.get("prompt_tokens", len(tokens))),
        generated=int(m.get("generated_tokens", 0)),
        decode_tps=m.get("tokens_per_s"),
        ttft_s=ttft if ttft is not None else end - t0,
        total_s=end - t0,
        text=finished.text,
    )


# -- the comparison --------------------------------------------------------------


def compare(
    model: Path, *, n_gen: int, runs: int, threads: int, n_ctx: int, n_batch: int, seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from tui.core import llama_log
    from tui.core.engine import EngineSettings, LlamaCppEngine

    _import_llama_cpp()
    llama_log.install()  # keep llama.cpp's C log off the terminal, as the app does
    engine = LlamaCppEngine(
        EngineSettings(
            model_path=model,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=n_batch,
        )
    )
    llm = None
    try:
        t = time.perf_counter()
        info = engine.load()
        llm = _load_bare(model, n_ctx, threads, n_batch)
        log(f"loaded both sides in {time.perf_counter() - t:.1f}s")
        # Tokenize once with the same call the app uses; both sides get these lists.
        prompt_tokens = [engine.tokenize(p) for p in PROMPTS]
        bare_tokens = [llm.tokenize(p.encode("utf-8"), add_bos=True, special=True) for p in PROMPTS]
        if prompt_tokens != bare_tokens:
            raise BenchError("the two sides tokenize the prompt differently")
        longest = max(len(t) for t in prompt_tokens)
        if longest + n_gen >= n_ctx:
            raise BenchError(
                f"--n-ctx {n_ctx} cannot hold a {longest}-token prompt plus {n_gen} tokens"
            )

        # Warm-up on prompt 1 so that round 0 (prompt 0) starts from a different prompt.
        log("warm-up")
        bare_run(llm, prompt_tokens[1], n_gen, seed, 1)
        engine_run(engine, prompt_tokens[1], n_gen, seed, 1)

        bare: list[Run] = []
        eng: list[Run] = []
        for i in range(runs):
            p = i % 2
            order = ("bare", "engine") if i % 2 == 0 else ("engine", "bare")
            for side in order:
                if side == "bare":
                    r = bare_run(llm, prompt_tokens[p], n_gen, seed, p)
                    bare.append(r)
                else:
                    r = engine_run(engine, prompt_tokens[p], n_gen, seed, p)
                    eng.append(r)
                log(
                    f"round {i + 1}/{runs} {side:6} prompt {'AB'[p]}: "
                    f"{_fmt(r.decode_tps, 1)} tok/s, ttft {r.ttft_s:.3f}s, "
                    f"{r.generated} tokens"
                )
    finally:
        if llm is not None:
            llm.close()
        engine.close()

    sb, se = _summary(bare), _summary(eng)
    same_counts = [b.generated == e.generated for b, e in zip(bare, eng)]
    same_text = [b.text == e.text for b, e in zip(bare, eng)]
    return {
        "model": str(model),
        "model_name": info.name,
        "settings": {
            "n_ctx": n_ctx,
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_batch": n_batch,
            "n_gpu_layers": 0,
            "tokens": n_gen,
            "runs": runs,
            "seed": seed,
            "sampler": dict(SAMPLER),
            "cpu_count": os.cpu_count(),
        },
        "prompt_tokens": [len(t) for t in prompt_tokens],
        "bare": sb,
        "engine": se,
        "ratio": {
            "decode_tps": _ratio(se["decode_tps"]["median"], sb["decode_tps"]["median"]),
            "ttft_s": _ratio(se["ttft_s"]["median"], sb["ttft_s"]["median"]),
            "total_s": _ratio(se["total_s"]["median"], sb["total_s"]["median"]),
        },
        "target_decode_ratio": TARGET,
        "generated_counts_equal": all(same_counts),
        "full_count_generated": all(r.generated == n_gen for r in bare + eng),
        "same_text_runs": sum(same_text),
        "runs_detail": [
            {k: v for k, v in asdict(r).items() if k != "text"} for r in bare + eng
        ],
    }


# -- the thread sweep --------------------------------------------------------------


def sweep(
    model: Path, *, n_gen: int, runs: int, n_ctx: int, n_batch: int, seed: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The bare loop at 1..cpu_count threads (generation and batch), one model.

    The thread count is changed on the one context with llama_set_n_threads
    between runs, so the counts can be interleaved round by round.
    """
    from tui.core import llama_log
    from tui.core.engine import auto_threads

    llama_cpp = _import_llama_cpp()
    llama_log.install()
    counts = list(range(1, (os.cpu_count() or 1) + 1))
    llm = _load_bare(model, n_ctx, counts[-1], n_batch)
    results: dict[int, list[Run]] = {n: [] for n in counts}
    try:
        prompt_tokens = [llm.tokenize(p.encode("utf-8"), add_bos=True, special=True) for p in PROMPTS]
        k = 0  # alternate prompts on every run so each one evaluates its prompt in full

        def one(n: int) -> Run:
            nonlocal k
            llama_cpp.llama_set_n_threads(llm.ctx, n, n)
            p = k % 2
            k += 1
            return bare_run(llm, prompt_tokens[p], n_gen, seed, p)

        log("warm-up")
        for n in counts:
            one(n)
        for i in range(runs):
            order = counts if i % 2 == 0 else counts[::-1]
            for n in order:
                r = one(n)
                results[n].append(r)
                log(f"round {i + 1}/{runs} threads {n}: {_fmt(r.decode_tps, 1)} tok/s, "
                    f"ttft {r.ttft_s:.3f}s")
    finally:
        llm.close()
    return {
        "model": str(model),
        "settings": {"n_ctx": n_ctx, "n_batch": n_batch, "tokens": n_gen, "runs": runs,
                     "seed": seed, "cpu_count": os.cpu_count()},
        "auto_threads": auto_threads(),
        "threads": {str(n): _summary(rs) for n, rs in results.items()},
    }


# -- output ------------------------------------------------------------------------


def _fmt(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def print_compare(res: dict[str, Any]) -> None:
    s = res["settings"]
    print(f"model    {res['model_name']} ({res['model']})")
    print(
        f"settings n_ctx={s['n_ctx']} threads={s['n_threads']}/{s['n_threads_batch']} "
        f"n_batch={s['n_batch']} seed={s['seed']} tokens={s['tokens']} "
        f"runs={s['runs']} (+1 warm-up each, interleaved) cpus={s['cpu_count']}"
    )
    print(f"prompts  {' and '.join(str(n) for n in res['prompt_tokens'])} tokens (alternated)")
    print()
    print(f"{'side':7} {'decode tok/s med (min-max)':>28} {'ttft s med':>11} "
          f"{'total s med':>12}  generated")
    for side in ("bare", "engine"):
        d = res[side]
        dt = d["decode_tps"]
        rng = f"{_fmt(dt['median'], 2)} ({_fmt(dt['min'], 1)}-{_fmt(dt['max'], 1)})"
        print(
            f"{side:7} {rng:>28} {_fmt(d['ttft_s']['median'], 3):>11} "
            f"{_fmt(d['total_s']['median'], 3):>12}  {','.join(map(str, d['generated']))}"
        )
    r = res["ratio"]
    print()
    print(f"ratio engine/bare ttft: {_fmt(r['ttft_s'], 3)}  total time: {_fmt(r['total_s'], 3)}"
          "  (lower is faster)")
    counts = "equal" if res["generated_counts_equal"] else "DIFFERENT"
    full = "" if res["full_count_generated"] else f" (some runs stopped before {s['tokens']})"
    print(f"generated token counts: {counts}{full}; identical text in "
          f"{res['same_text_runs']}/{s['runs']} rounds")
    print(f"ratio engine/bare decode tok/s: {_fmt(r['decode_tps'], 2)} (target >= {TARGET})")


def print_sweep(res: dict[str, Any]) -> None:
    s = res["settings"]
    print(f"thread sweep, bare loop: tokens={s['tokens']} runs={s['runs']} (+1 warm-up each, "
          f"interleaved) n_ctx={s['n_ctx']} n_batch={s['n_batch']} cpus={s['cpu_count']}")
    print(f"{'threads':>7} {'decode tok/s med (min-max)':>28} {'ttft s med':>11}")
    for n, d in res["threads"].items():
        dt = d["decode_tps"]
        rng = f"{_fmt(dt['median'], 2)} ({_fmt(dt['min'], 1)}-{_fmt(dt['max'], 1)})"
        mark = "  <- auto_threads()" if int(n) == res["auto_threads"] else ""
        print(f"{n:>7} {rng:>28} {_fmt(d['ttft_s']['median'], 3):>11}{mark}")


# -- CLI -----------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="engine_speed.py",
        description="Generation speed through Candlelit's engine vs a bare llama_cpp.Llama loop.",
    )
    p.add_argument("--model", help="GGUF file (default: the bundled default model)")
    p.add_argument("--tokens", type=_positive, default=128, help="tokens generated per run (128)")
    p.add_argument("--runs", type=_positive, default=5, help="measured rounds per side (5)")
    p.add_argument("--threads", type=_positive, default=None,
                   help="n_threads and n_threads_batch for both sides (default: auto_threads())")
    p.add_argument("--n-ctx", type=_positive, default=2048, help="context size (2048)")
    p.add_argument("--n-batch", type=_positive, default=512, help="n_batch and n_ubatch (512)")
    p.add_argument("--seed", type=int, default=1234, help="sampler seed for every run (1234)")
    p.add_argument("--thread-sweep", action="store_true",
                   help="measure the bare loop at 1..cpu_count threads instead")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def _resolve_model(arg: str | None) -> Path:
    from tui import paths
    from tui.core.models import ModelFileError, ensure_default_model, resolve_model_path, text_progress

    try:
        if arg:
            return resolve_model_path(arg, paths.resolve().models)
        return ensure_default_model(paths.resolve().models, text_progress())
    except ModelFileError as exc:
        raise BenchError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quiet = args.json

    def log(line: str) -> None:
        if not quiet:
            print(f"  {line}", file=sys.stderr, flush=True)

    from tui.core.engine import EngineError, auto_threads

    try:
        model = _resolve_model(args.model)
        if args.thread_sweep:
            res = sweep(model, n_gen=args.tokens, runs=args.runs, n_ctx=args.n_ctx,
                        n_batch=args.n_batch, seed=args.seed, log=log)
            if args.json:
                print(json.dumps(res, indent=2))
            else:
                print_sweep(res)
            return 0
        res = compare(model, n_gen=args.tokens, runs=args.runs,
                      threads=args.threads or auto_threads(), n_ctx=args.n_ctx,
                      n_batch=args.n_batch, seed=args.seed, log=log)
    except (BenchError, EngineError) as exc:
        print(f"engine_speed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("engine_speed: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print_compare(res)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench-main"
    sys.exit(main())
