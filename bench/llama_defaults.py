"""Choosing llama.cpp settings by measurement: flash attention, batch size,
threads. Prompt evaluation (tokens/s over a ~1.5k-token prompt) and decode
speed (tokens/s over 64 greedy tokens) for each setting, one Llama at a time
in this process, in interleaved rounds; ratios are against the shipped
defaults measured in the same run.

    .venv/bin/python bench/llama_defaults.py [--rounds 3] [--model PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tui.core.engine.settings import auto_threads, openmp_defaults  # noqa: E402

TEXT = (
    "Mara sets two cups on the table by the window. Outside, the harbour lights flicker "
    "as the fishing boats come in. She tells Sam about the lighthouse keeper's cat. "
)

CONFIGS = {
    "shipped (fa off, batch 512, all cores)": {},
    "flash_attn on": {"flash_attn": True},
    "n_batch 256": {"n_batch": 256, "n_ubatch": 256},
    "n_batch 1024": {"n_batch": 1024, "n_ubatch": 1024},
    "1 thread": {"n_threads": 1, "n_threads_batch": 1},
}


def measure(model: str, overrides: dict) -> dict:
    import llama_cpp

    kw = dict(model_path=model, n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=auto_threads(),
              n_threads_batch=auto_threads(), flash_attn=False, verbose=False)
    kw.update(overrides)
    llm = llama_cpp.Llama(**kw)
    toks = llm.tokenize(TEXT.encode() * 40)[:1500]
    t0 = time.perf_counter()
    llm.eval(toks)
    prompt_tps = len(toks) / (time.perf_counter() - t0)
    llm.reset()
    llm.eval(toks[:64])
    n = 0
    t0 = time.perf_counter()
    for _tok in llm.generate(toks[:65], temp=0.0, reset=False):
        n += 1
        if n >= 64:
            break
    decode_tps = n / (time.perf_counter() - t0)
    llm.close()
    del llm
    gc.collect()
    return {"prompt_tps": prompt_tps, "decode_tps": decode_tps}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    openmp_defaults()
    from tui.core import paths
    from tui.core.engine import llama_log
    from tui.core.engine.model_files import ensure_default_model

    llama_log.install()
    model = args.model or str(ensure_default_model(paths.resolve().models))
    results: dict[str, list[dict]] = {k: [] for k in CONFIGS}
    names = list(CONFIGS)
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            results[name].append(measure(model, CONFIGS[name]))
    base = names[0]
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("prompt_tps", "decode_tps")}
           for k, v in results.items()}
    out = {}
    print(f"cores: {os.cpu_count()}  rounds: {args.rounds}  model: {Path(model).name}")
    for k, v in med.items():
        pr = v["prompt_tps"] / med[base]["prompt_tps"]
        dr = v["decode_tps"] / med[base]["decode_tps"]
        out[k] = {"prompt_tps": round(v["prompt_tps"], 1), "decode_tps": round(v["decode_tps"], 1),
                  "prompt_ratio": round(pr, 3), "decode_ratio": round(dr, 3)}
        print(f"{k:40s} prompt {v['prompt_tps']:7.1f} tok/s ({pr:4.2f}x)   "
              f"decode {v['decode_tps']:6.1f} tok/s ({dr:4.2f}x)")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
