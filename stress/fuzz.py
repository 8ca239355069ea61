"""Fuzz every reader of untrusted files: mutated inputs never crash or hang.

Run from the repository root::

    .venv/bin/python stress/fuzz.py                    # 100,000 inputs (the long run)
    .venv/bin/python stress/fuzz.py --count 2000 --seed 7

Targets, each from real seed files made here: cards (JSON V2/V3, PNG with
``chara``/``ccv3`` chunks, CHARX zip), lorebooks (SillyTavern world info),
SillyTavern chat imports (JSONL), ``memory.md``, ``config.toml`` and GGUF
headers. Each input is a seed with random mutations (bit flips, byte
insertions and deletions, truncation, splices of another seed, repeated
chunks, huge numbers, deep nesting, invalid UTF-8, lone surrogates) and goes
to the same function the app and the CLI use. Outcomes:

- **ok**: it parsed; **clean**: it was refused with the project's own error
  (one line, ``CandlelitError``);
- **crash**: any other exception; **hang**: over ``--limit`` seconds
  (checked by the clock around each call; a SIGALRM stops a true hang).

Crashes and hangs print the target, the error and where the reproducer was
saved, and make the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.core.cards.card import parse_card
from tui.core.cards.charx import card_to_charx
from tui.core.cards.files import read_card_bytes
from tui.core.cards.png_card import card_to_png, placeholder_png
from tui.core.config.load import load_config_text
from tui.core.engine.gguf import read_gguf
from tui.core.errors import CandlelitError
from tui.core.lore.codec import load_book_file
from tui.core.memory.document import parse_memory
from tui.core.profile.st_read import read_st_bytes

CARD = {
    "spec": "chara_card_v3", "spec_version": "3.0",
    "data": {
        "name": "Iris Vale", "description": "{{char}} is a 41-year-old lighthouse keeper.",
        "personality": "calm", "first_mes": "The lamp turns.", "alternate_greetings": ["Hello again."],
        "tags": ["calm", "sea"], "extensions": {"x": {"y": [1, 2]}},
        "character_book": {"entries": [{"keys": ["lamp"], "content": "Old lamp.", "use_regex": False}]},
    },
}
BOOK = {"name": "Atlas", "entries": {
    "0": {"uid": 0, "key": ["harbour"], "keysecondary": [], "content": "The harbour freezes.", "order": 100,
          "position": 0, "disable": False, "probability": 100, "useProbability": True, "depth": 4},
    "1": {"uid": 1, "key": ["/lamp|light/i"], "content": "The lamp.", "constant": True, "selective": False},
}}
CHAT = "\n".join(json.dumps(x) for x in [
    {"user_name": "Sam", "character_name": "Iris", "create_date": "2025-01-01@12h00m00s", "chat_metadata": {}},
    {"name": "Iris", "is_user": False, "send_date": "2025-01-01@12h00m01s", "mes": "The lamp turns.",
     "swipes": ["The lamp turns.", "Hello."], "swipe_id": 0},
    {"name": "Sam", "is_user": True, "send_date": "2025-01-01@12h00m05s", "mes": "Good evening."},
]) + "\n"
MEMORY = (
    "# Memory\n\n## Summary\nSam bakes at five.\n\n## Pinned\nSam keeps bees.\n\n"
    "## Facts\n- [pinned] Sam lives in Lisbon.\n- Ines repairs clocks. (from msg 12)\n\n"
    "<!-- folded_upto: 20260101-000000-beef -->\n"
)
CONFIG = '[model]\nn_ctx = 4096\n[sampling]\ntemperature = 0.8\n[chat]\nuser_name = "Sam"\n[privacy]\ndeny_names = []\n'


def gguf_seed() -> bytes:
    def s(text: str) -> bytes:
        b = text.encode()
        return struct.pack("<Q", len(b)) + b

    kv = [
        s("general.architecture") + struct.pack("<I", 8) + s("llama"),
        s("general.name") + struct.pack("<I", 8) + s("tiny"),
        s("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        s("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2) + s("a") + s("b"),
    ]
    tensor = s("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 2) + struct.pack("<I", 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(kv) + tensor
    pad = (-len(head)) % 32
    return head + b"\0" * pad + b"\0" * 32


def seeds() -> dict[str, list[bytes]]:
    card = parse_card(CARD)
    js = json.dumps(CARD).encode()
    v2 = json.dumps({"spec": "chara_card_v2", "spec_version": "2.0", "data": CARD["data"]}).encode()
    return {
        "card": [js, v2, card_to_png(card, placeholder_png()), card_to_charx(card, None)],
        "lorebook": [json.dumps(BOOK).encode()],
        "st-chat": [CHAT.encode()],
        "memory.md": [MEMORY.encode()],
        "config.toml": [CONFIG.encode()],
        "gguf": [gguf_seed()],
    }


# -- mutations ----------------------------------------------------------------------
def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        n = len(b)
        if op == 0 and n:                        # flip bits
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1:                            # insert bytes
            at = rng.randint(0, n)
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2 and n:                      # delete a run
            at = rng.randrange(n)
            del b[at:at + rng.randint(1, 64)]
        elif op == 3 and n:                      # truncate
            del b[rng.randrange(n):]
        elif op == 4 and others:                 # splice another seed
            o = rng.choice(others)
            at, start = rng.randint(0, n), rng.randint(0, len(o))
            b[at:at] = o[start:start + rng.randint(1, 200)]
        elif op == 5 and n:                      # repeat a chunk many times
            at = rng.randrange(n)
            piece = bytes(b[at:at + rng.randint(1, 32)])
            b[at:at] = piece * rng.randint(2, 2000)
        elif op == 6:                            # a huge or negative number
            at = rng.randint(0, n)
            b[at:at] = rng.choice([b"99999999999999999999", b"-1", b"1e999", b"NaN", b"\xff\xff\xff\xff"])
        elif op == 7:                            # deep nesting
            at = rng.randint(0, n)
            depth = rng.randint(50, 5000)
            b[at:at] = b"[" * depth + b"]" * rng.choice([0, depth])
        elif op == 8:                            # invalid UTF-8 and escaped lone surrogates
            at = rng.randint(0, n)
            b[at:at] = rng.choice([b"\xc3\x28", b"\xed\xa0\x80", b"\\ud800", b"\\udfff\\ud800", b"\x00"])
        elif op == 9 and n:                      # overwrite with a big integer field
            at = rng.randrange(n)
            b[at:at + 8] = struct.pack("<Q", rng.choice([2**63 - 1, 2**32, 2**40, 0]))
        else:                                    # terminal escapes and bidi controls
            at = rng.randint(0, n)
            b[at:at] = rng.choice(["\x1b]52;c;aGk=\x07", "\u202e", "\x9b2J"]).encode()
    return bytes(b)


# -- targets ---------------------------------------------------------------------------
def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def target_calls(tmp: Path) -> dict[str, Callable[[bytes], object]]:
    gguf_path = tmp / "model.gguf"

    def card(data: bytes) -> object:
        kind = rng_suffix(data)
        return read_card_bytes(data, f"fuzz{kind}", kind)

    book_path = tmp / "book.json"

    def lorebook(data: bytes) -> object:
        book_path.write_bytes(data)
        return load_book_file(book_path)

    def st_chat(data: bytes) -> object:
        return read_st_bytes(data, Path("fuzz.jsonl"))

    def memory(data: bytes) -> object:
        return parse_memory(_text(data).encode("utf-8", "replace").decode("utf-8"))

    def config(data: bytes) -> object:
        return load_config_text(data.decode("utf-8", "replace"), "fuzz.toml")

    def gguf(data: bytes) -> object:
        gguf_path.write_bytes(data)
        return read_gguf(gguf_path)

    return {"card": card, "lorebook": lorebook, "st-chat": st_chat, "memory.md": memory,
            "config.toml": config, "gguf": gguf}


def rng_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"PK"):
        return ".charx"
    return ".json"


class Hang(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang()


def run(count: int, seed: int, limit: float, out: Path) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    pool = seeds()
    every = [s for group in pool.values() for s in group]
    tmp = Path(tempfile.mkdtemp(prefix="candlelit-fuzz-"))
    calls = target_calls(tmp)
    names = list(calls)
    stats = {n: {"inputs": 0, "ok": 0, "clean": 0, "crash": 0, "hang": 0, "slowest_s": 0.0} for n in names}
    failures = 0
    signal.signal(signal.SIGALRM, _alarm)
    for i in range(count):
        name = names[i % len(names)]
        data = mutate(rng, rng.choice(pool[name]), every)
        row = stats[name]
        row["inputs"] += 1
        t0 = time.perf_counter()
        outcome, detail = "ok", ""
        signal.setitimer(signal.ITIMER_REAL, limit * 5)
        try:
            calls[name](data)
        except Hang:
            outcome = "hang"
        except CandlelitError as exc:
            outcome = "clean"
            if "\n" in str(exc):
                outcome, detail = "crash", f"a multi-line error: {str(exc)[:200]!r}"
        except Exception as exc:  # noqa: BLE001 - what the harness is for
            outcome, detail = "crash", f"{type(exc).__name__}: {str(exc)[:200]}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.perf_counter() - t0
        row["slowest_s"] = max(row["slowest_s"], took)
        if outcome == "ok" and took > limit:
            outcome, detail = "hang", f"took {took:.2f} s"
        row[outcome] += 1
        if outcome in ("crash", "hang"):
            failures += 1
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{name}-{seed}-{i}.bin"
            path.write_bytes(data)
            print(f"{outcome.upper()} {name} #{i}: {detail} (reproducer: {path})", file=sys.stderr)
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=float, default=2.0, help="seconds one input may take")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "candlelit-fuzz-failures")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    stats = run(args.count, args.seed, args.limit, args.out)
    total = {k: sum(r[k] for r in stats.values()) for k in ("inputs", "ok", "clean", "crash", "hang")}
    if args.json:
        print(json.dumps({"targets": stats, "total": total, "seconds": round(time.perf_counter() - t0, 1)}))
    else:
        print(f"{'target':12} {'inputs':>8} {'ok':>8} {'clean':>8} {'crash':>6} {'hang':>5} {'slowest':>9}")
        for name, r in stats.items():
            print(f"{name:12} {r['inputs']:>8,} {r['ok']:>8,} {r['clean']:>8,} {r['crash']:>6} {r['hang']:>5} "
                  f"{r['slowest_s']:>8.3f}s")
        print(f"{'total':12} {total['inputs']:>8,} {total['ok']:>8,} {total['clean']:>8,} {total['crash']:>6} "
              f"{total['hang']:>5}   in {time.perf_counter() - t0:.0f} s")
    return 1 if total["crash"] or total["hang"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
