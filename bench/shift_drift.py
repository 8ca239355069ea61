"""How far a context shift moves the model's next-token distribution.

Replays a scripted chat (as ``candlelit bench ttft`` does) and, at every
summary cycle, takes the chat's cache before the fold and the prompt after
it. On a separate context it then compares

- **shifted**: the old cache, the folded span removed, the window moved into
  place and the new memory evaluated in front of it (what the engine does);
- **exact**: the new prompt evaluated from scratch;

by the KL divergence of the next-token distributions, whether the likeliest
token agrees, and whether 16 greedy tokens agree; and times both paths.

    .venv/bin/python bench/shift_drift.py [--turns 120]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tui.bench.ttft import USER_LINES, _engine, _reply, _workspace  # noqa: E402
from tui.core.engine import kv_ops  # noqa: E402


def logits(llm) -> np.ndarray:
    import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float64).copy()


def greedy(llm, n: int) -> list[int]:
    out = []
    for _ in range(n):
        tok = int(np.argmax(logits(llm)))
        out.append(tok)
        llm.eval([tok])
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def compare(llm, cached: list[int], new: list[int]) -> dict | None:
    llm.reset()
    llm._ctx.kv_cache_clear()
    llm.eval(cached)
    plan = kv_ops.plan_shift(cached, new)
    if plan is None:
        return None
    t0 = time.perf_counter()
    kv_ops.apply_shift(llm, new, plan)
    llm.eval(new[plan.kept:])
    t_shift = time.perf_counter() - t0
    a = logits(llm)
    ga = greedy(llm, 16)
    llm.reset()
    llm._ctx.kv_cache_clear()
    t0 = time.perf_counter()
    llm.eval(new)
    t_exact = time.perf_counter() - t0
    b = logits(llm)
    gb = greedy(llm, 16)
    p, q = softmax(b), softmax(a)
    kl = float(np.sum(p * (np.log(p + 1e-30) - np.log(q + 1e-30))))
    agree = next((i for i, (x, y) in enumerate(zip(ga, gb, strict=True)) if x != y), 16)
    return {
        "prompt": len(new), "shifted": plan.length, "new": plan.new_tokens,
        "kl": kl, "top1": bool(np.argmax(a) == np.argmax(b)), "greedy_agree": agree,
        "shift_s": t_shift, "exact_s": t_exact,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=120)
    ap.add_argument("--n-ctx", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import llama_cpp

    from tui.core import paths
    from tui.core.chat.session import Session
    from tui.core.engine.model_files import ensure_default_model

    model = ensure_default_model(paths.resolve().models)
    rows = []
    with tempfile.TemporaryDirectory(prefix="candlelit-drift-") as tmp:
        ws = _workspace(Path(tmp), model, args.n_ctx, 16, "on")
        engine = _engine(ws)
        s = Session(ws, ws.new_chat("mara", "drift").id, engine)
        pairs = []
        for t in range(1, args.turns + 1):
            _reply(s, f"{USER_LINES[t % len(USER_LINES)]} ({t})")
            before = engine.cached_tokens()
            up = s.mem.maintain(warm=False)
            if up.folds:
                pairs.append((before, s.build_prompt().tokens))
        engine.close()
        with kv_ops.two_sequences():
            llm = llama_cpp.Llama(model_path=str(model), n_ctx=args.n_ctx, n_batch=512,
                                  n_ubatch=512, n_threads=os.cpu_count(), verbose=False)
        for cached, new in pairs:
            r = compare(llm, cached, new)
            if r is not None:
                rows.append(r)
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}),
                      file=sys.stderr)
    summary = {
        "fold_events": len(rows),
        "kl_median": round(statistics.median(r["kl"] for r in rows), 4),
        "kl_max": round(max(r["kl"] for r in rows), 4),
        "top1_agreement": round(sum(r["top1"] for r in rows) / len(rows), 3),
        "greedy16_identical": round(sum(r["greedy_agree"] == 16 for r in rows) / len(rows), 3),
        "greedy_agree_median_tokens": statistics.median(r["greedy_agree"] for r in rows),
        "shift_s_median": round(statistics.median(r["shift_s"] for r in rows), 4),
        "exact_s_median": round(statistics.median(r["exact_s"] for r in rows), 4),
    }
    for k, v in summary.items():
        print(f"{k}: {v}")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
