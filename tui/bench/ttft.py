"""Time to first token as a chat grows: our prompt layout against a naive
rolling window, plus resume after a restart.

``candlelit bench ttft [--turns N] [--json]`` (and ``bench/ttft.py``). See
docs/ARCHITECTURE.md#benchmarks for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER_LINES = [
    "Good evening! The rain finally stopped, so I walked over.",
    "What are you reading tonight?",
    "I tried that recipe you told me about. It burned a little.",
    "Tell me about the lighthouse you mentioned last week.",
    "My sister called today; she is moving to Porto in spring.",
    "Do you still want to go to the market on Saturday?",
    "I found an old photo of the harbour from when I was a kid.",
    "The cat knocked the plant off the windowsill again.",
    "Work was long. I mostly want to sit here and listen.",
    "What song was playing when we first met here?",
    "I started learning to paint. My first try is a disaster.",
    "Should we plan a trip to the mountains in autumn?",
]


@dataclass
class TurnTime:
    turn: int
    ttft_s: float
    prompt_tokens: int
    reused_tokens: int
    evaluated_tokens: int
    shifted_tokens: int = 0
    background_s: float = 0.0
    folds: int = 0


@dataclass
class Result:
    ours: list[TurnTime] = field(default_factory=list)
    naive: list[TurnTime] = field(default_factory=list)
    resume: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _ranges(turns: int) -> tuple[range, range]:
    if turns >= 300:
        return range(10, 31), range(280, 301)
    early_lo = max(2, turns // 30)
    early = range(early_lo, early_lo + max(3, turns // 15))
    late = range(turns - max(3, turns // 15) + 1, turns + 1)
    return early, late


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _workspace(home: Path, model: Path, n_ctx: int, max_tokens: int, shift: str):
    from tui.core import paths
    from tui.core.config.load import replace
    from tui.core.config.schema import Config
    from tui.core.profile.workspace import Workspace

    os.environ["CANDLELIT_HOME"] = str(home)
    cfg = replace(
        Config(),
        model={"path": str(model), "n_ctx": n_ctx},
        sampling={"temperature": 0.7, "seed": 1234, "max_tokens": max_tokens},
        chat={"user_name": "Sam"},
        memory={"context_shift": shift},
    )
    ws = Workspace(paths.resolve(), cfg)
    ws.install_starters()
    return ws


def _engine(ws):
    return ws.open_engine(ws.model_path())


def _reply(session, text: str) -> dict:
    from tui.core.chat.session import ReplyDone

    done = None
    for ev in session.send(text):
        if isinstance(ev, ReplyDone):
            done = ev
    assert done is not None
    return done.message.metrics


def run_ours(ws, engine, turns: int, log) -> list[TurnTime]:
    from tui.core.chat.session import Session

    chat = ws.new_chat("mara", "bench")
    s = Session(ws, chat.id, engine)
    out = []
    for t in range(1, turns + 1):
        text = f"{USER_LINES[t % len(USER_LINES)]} ({t})"
        m = _reply(s, text)
        t0 = time.perf_counter()
        up = s.maintain_memory()
        bg = time.perf_counter() - t0
        row = TurnTime(
            t, m["ttft_s"], m["prompt_tokens"], m["reused_tokens"], m["evaluated_tokens"],
            m.get("shifted_tokens", 0), round(bg, 3), up.folds,
        )
        out.append(row)
        log(f"ours  turn {t:3d}  ttft {row.ttft_s:6.3f} s  prompt {row.prompt_tokens:5d}  "
            f"eval {row.evaluated_tokens:4d}  shifted {row.shifted_tokens:4d}  "
            f"background {bg:5.2f} s{'  fold' if up.folds else ''}{'  ' + up.failed if up.failed else ''}"
            f"{'  warm ' + json.dumps(up.warm) if up.warm else ''}")
    return out, s


def run_naive(session, engine, wanted: list[range], log) -> list[TurnTime]:
    """Re-prompt the recorded history as a drop-oldest rolling window."""
    from tui.core.chat.session import character_text
    from tui.core.engine.api import GenerationRequest, Sampling
    from tui.core.prompt.builder import PromptBuilder
    from tui.core.prompt.parts import Turn

    ws = session.ws
    msgs = [m for m in session.messages() if m.text.strip()]
    user_at = [i for i, m in enumerate(msgs) if m.role == "user"]
    persona = ws.persona()
    builder = PromptBuilder(
        fmt=session.format,
        tokenize=engine.tokenize,
        n_ctx=engine.info.n_ctx,
        reply_reserve=ws.config.sampling.max_tokens,
        chunk=1,
    )
    out = []
    for rng in wanted:
        for t in [rng.start - 1, *rng]:
            if t < 1 or t > len(user_at):
                continue
            history = msgs[: user_at[t - 1] + 1]
            turns = [Turn(m.speaker, m.role, m.text) for m in history]
            p = builder.build(character_text(session.character), persona.name, persona.description, turns)
            req = GenerationRequest(p.tokens, Sampling(temperature=0.0, seed=1, max_tokens=1), stop=p.stop)
            fin = None
            for ev in engine.stream(req):
                fin = ev
            m = fin.metrics
            if t == rng.start - 1:
                continue  # warm-up: puts the previous turn's prompt in the cache
            out.append(TurnTime(t, m["ttft_s"], m["prompt_tokens"], m["reused_tokens"], m["evaluated_tokens"]))
            log(f"naive turn {t:3d}  ttft {m['ttft_s']:6.3f} s  prompt {m['prompt_tokens']:5d}  "
                f"eval {m['evaluated_tokens']:4d}")
    return out


def run_resume(ws, log, context_tokens: int = 3000) -> dict[str, float]:
    """A ≥3k-token chat: warm TTFT, then close, reopen, restore, first TTFT."""
    from tui.core.chat.session import Session
    from tui.core.config.load import replace
    from tui.core.profile.workspace import Workspace
    from tui.core.storage.model import Message

    ws = Workspace(ws.paths, replace(ws.config, model={"n_ctx": 4096}, memory={"enabled": False}))
    engine = _engine(ws)
    chat = ws.new_chat("mara", "resume")
    s = Session(ws, chat.id, engine)
    i = 0
    while s.build_prompt().section_tokens("window") < context_tokens:
        for _ in range(10):
            ws.store.append(chat.id, Message.new("Sam", "user", f"{USER_LINES[i % len(USER_LINES)]} ({i})"))
            ws.store.append(chat.id, Message.new(
                "Mara", "assistant",
                f"Mara listens, smiles and answers about it at some length, remembering line {i}. "
                "She pours two cups of tea and sets one by the window where the light is warm.",
            ))
            i += 1
    cold = _reply(s, "Let's keep talking.")
    warm = _reply(s, "Tell me more.")
    t0 = time.perf_counter()
    saved = s.save_cache()
    save_s = time.perf_counter() - t0
    engine.close()
    engine = _engine(ws)
    s = Session(ws, chat.id, engine)
    t0 = time.perf_counter()
    restored = s.restore_cache()
    load_s = time.perf_counter() - t0
    first = _reply(s, "And after that?")
    engine.close()
    out = {
        "context_tokens": first["prompt_tokens"],
        "cold_ttft_s": cold["ttft_s"],
        "warm_ttft_s": warm["ttft_s"],
        "resumed_ttft_s": first["ttft_s"],
        "state_bytes": saved,
        "save_s": round(save_s, 3),
        "load_s": round(load_s, 3),
        "restored_tokens": restored,
    }
    log(f"resume: context {out['context_tokens']} tokens, cold {cold['ttft_s']:.3f} s, "
        f"warm {warm['ttft_s']:.3f} s, after reopen {first['ttft_s']:.3f} s "
        f"(state {saved / 2**20:.1f} MiB, save {save_s:.3f} s, load {load_s:.3f} s)")
    return out


def run(
    turns: int, n_ctx: int, max_tokens: int, model: Path | None, shift: str, log,
    resume_tokens: int = 3000,
) -> Result:
    from tui.core import paths
    from tui.core.engine.model_files import ensure_default_model

    if model is None:
        model = ensure_default_model(paths.resolve().models)
    res = Result(settings={"turns": turns, "n_ctx": n_ctx, "max_tokens": max_tokens,
                           "model": model.name, "context_shift": shift})
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="candlelit-bench-") as tmp:
        os.chmod(tmp, 0o700)
        ws = _workspace(Path(tmp), model, n_ctx, max_tokens, shift)
        engine = _engine(ws)
        res.settings["can_shift"] = engine.info.can_shift
        res.ours, session = run_ours(ws, engine, turns, log)
        engine.close()
        # the baseline gets none of our cache work: no context shift either
        from dataclasses import replace as dc_replace

        from tui.core.engine.llama import LlamaCppEngine

        engine = LlamaCppEngine(dc_replace(engine.settings, context_shift=False))
        engine.load()
        session.engine = engine
        early, late = _ranges(turns)
        res.naive = run_naive(session, engine, [early, late], log)
        engine.close()
        res.resume = run_resume(ws, log, resume_tokens)
    pick = lambda rows, r: [x.ttft_s for x in rows if x.turn in r]  # noqa: E731
    ours_early, ours_late = _median(pick(res.ours, early)), _median(pick(res.ours, late))
    naive_late = _median(pick(res.naive, late))
    res.summary = {
        "early_turns": [early.start, early.stop - 1],
        "late_turns": [late.start, late.stop - 1],
        "ours_early_median_s": round(ours_early, 4),
        "ours_late_median_s": round(ours_late, 4),
        "naive_early_median_s": round(_median(pick(res.naive, early)), 4),
        "naive_late_median_s": round(naive_late, 4),
        "ttft_ratio_late_vs_early": round(ours_late / ours_early, 3),
        "naive_vs_ours": round(naive_late / ours_late, 2),
        "resume_ratio": round(res.resume["resumed_ttft_s"] / res.resume["warm_ttft_s"], 3),
        "folds": sum(x.folds for x in res.ours),
        "background_s_total": round(sum(x.background_s for x in res.ours), 1),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="candlelit bench ttft", description=__doc__.split("\n\n")[0])
    ap.add_argument("--turns", type=int, default=300, help="chat turns to replay (default 300)")
    ap.add_argument("--n-ctx", type=int, default=1024, help="context for the long chat (default 1024)")
    ap.add_argument("--max-tokens", type=int, default=16, help="reply length (default 16)")
    ap.add_argument("--model", type=Path, default=None, help="GGUF (default: the bundled model)")
    ap.add_argument("--shift", choices=("auto", "on", "off"), default="auto",
                    help="[memory] context_shift for the run (default auto)")
    ap.add_argument("--resume-tokens", type=int, default=3000,
                    help="context of the chat reopened for resume_ratio (default 3000)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    args = ap.parse_args(argv)
    if args.turns < 10:
        ap.error("--turns must be at least 10")
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if args.json else \
        (lambda line: print(line, flush=True))
    res = run(args.turns, args.n_ctx, args.max_tokens, args.model, args.shift, log, args.resume_tokens)
    for k, v in res.summary.items():
        log(f"{k}: {v}")
    if args.json:
        print(json.dumps({**res.summary, "settings": res.settings, "resume": res.resume}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
