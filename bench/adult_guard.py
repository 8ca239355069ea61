"""The under-18 check on card fields up to the allowed maximum (1,000,000
characters), shaped to make backtracking regexes quadratic, and on prose.

Run from the repository root::

    .venv/bin/python bench/adult_guard.py            # the table
    .venv/bin/python bench/adult_guard.py --runs 5

Each shape at 10,000, 100,000 and 1,000,000 characters: the best of
``--runs`` timings of ``check_text``, and its ratio to the 10,000-character
field of the same shape in the same run (linear: about 10x and 100x).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.cards.adult_guard import check_text

PROSE = "She walked along the quiet river, thirty-four years old and tired of the rain. "
SHAPES = {
    "digit + spaces": lambda n: "5" + " " * (n - 1),
    "age + spaces": lambda n: "age" + " " * (n - 3),
    "age, spaces, colon": lambda n: "age" + " " * (n // 2) + ":" + " " * (n // 2),
    "digits": lambda n: "5 " * (n // 2),
    "prose": lambda n: (PROSE * (n // len(PROSE) + 1))[:n],
}
SIZES = (10_000, 100_000, 1_000_000)


def best(text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        check_text(text, ("Kit",))
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"{'shape':22} " + " ".join(f"{n:>18,}" for n in SIZES))
    for name, make in SHAPES.items():
        cells, base = [], None
        for n in SIZES:
            t = best(make(n), args.runs)
            base = base or t
            cells.append(f"{t * 1000:8.1f} ms {t / base:5.1f}x")
        print(f"{name:22} " + " ".join(f"{c:>18}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
