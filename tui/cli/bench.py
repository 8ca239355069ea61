"""``candlelit bench ...``: benchmarks."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``bench`` and its actions to the top-level subcommands."""
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    bench.required = True
    b_ttft = bench.add_parser(
        "ttft", help="time to first token over a long chat: ours vs a naive rolling window, and resume"
    )
    b_ttft.add_argument("--turns", type=int, default=300, metavar="N")
    b_ttft.add_argument("--n-ctx", type=int, default=1024, metavar="N")
    b_ttft.add_argument("--shift", choices=("auto", "on", "off"), default="auto",
                        help="[memory] context_shift for the run (default auto)")
    b_ttft.add_argument("--resume-tokens", type=int, default=3000, metavar="N")
    b_ttft.add_argument("--json", action="store_true")


def _bench_ttft(ws, args) -> int:
    from tui.bench import ttft

    argv = ["--turns", str(args.turns), "--n-ctx", str(args.n_ctx), "--resume-tokens", str(args.resume_tokens)]
    argv += ["--shift", args.shift]
    if args.json:
        argv.append("--json")
    if args.model:
        argv += ["--model", args.model]
    return ttft.main(argv)


HANDLERS = {
    ("bench", "ttft"): _bench_ttft,
}
