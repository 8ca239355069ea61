"""What encryption at rest costs a chat: plain Store against sealed Store.

Run from the repository root::

    .venv/bin/python bench/sealed_io.py                  # the table
    .venv/bin/python bench/sealed_io.py --json           # one JSON object on the last line
    .venv/bin/python bench/sealed_io.py --sizes 100,1000 --runs 9

For chats of 100, 1000 and 5000 messages (about 300 bytes each) it times,
on a plain profile folder and on an encrypted one (``tui.core.privacy.sealed_fs``):

- **append**: ``Store.append`` of one more message, as a reply is saved. A
  plain append writes one line (O_APPEND + fsync); a sealed one rewrites the
  last segment of ``messages.jsonl`` (at most ``segments.SEGMENT_LINES`` lines,
  age files cannot be extended) or starts a new one. Both also rewrite
  ``chat.toml``.
- **load**: ``Store.messages``, as a chat is opened: read (and decrypt) the
  file and parse every line.

Each size gets its own chat on each side, filled in one atomic write; then
``--runs`` rounds (7) alternate plain and sealed, the order flipping every
round, so other load on the machine hits both alike. Medians are reported
with the ratio sealed/plain. The profile key is made once with the real
scrypt, outside every timed step (it is paid once per unlock, not per
file). Everything runs in a temporary folder and offline.

Then **append by chat length** (``--append-sizes``, default 10, 1,000,
5,000 and 50,000 messages): one full cycle of ``segments.SEGMENT_LINES``
appends on each chat (so every position in the last segment is paid once,
the index save of a new segment included), reporting the mean ms and the
mean bytes written per append (``wchar`` of ``/proc/self/io``: every byte
the process wrote, chat.toml and index included; Linux only) on both sides,
and each as a ratio against the 10-message chat. With it, **open**: the
first ``count`` and last page (60 messages) on a fresh ``Store``, as the chat
screen opens a chat, and how many of the chat's segments that decrypted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # benchmark the working tree, installed or not
    sys.path.insert(0, str(_ROOT))

from tui.bench.cli_args import positive_int  # noqa: E402
from tui.core.privacy import segments, vault  # noqa: E402
from tui.core.privacy.sealed_fs import SealedFS  # noqa: E402
from tui.core.storage.model import Message  # noqa: E402
from tui.core.storage.store import Store  # noqa: E402

DEFAULT_SIZES = (100, 1000, 5000)
DEFAULT_APPEND_SIZES = (10, 1000, 5000, 50000)
MESSAGE_BYTES = 300
_WORDS = "the candle gutters low and the rain keeps on against the inn's old shutters".split()


def _text(i: int) -> str:
    """About MESSAGE_BYTES of JSON per message once wrapped with id, speaker, time."""
    words, n = [], i
    while len(" ".join(words)) < MESSAGE_BYTES - 130:
        words.append(_WORDS[n % len(_WORDS)])
        n = n * 7 + 3
    return " ".join(words)


def _messages(n: int) -> list[Message]:
    return [
        Message.new("Mara" if i % 2 else "You", "assistant" if i % 2 else "user", _text(i))
        for i in range(n)
    ]


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def run(sizes: Sequence[int], runs: int, workdir: Path) -> dict[str, Any]:
    plain_dir = workdir / "plain"
    sealed_dir = workdir / "sealed"
    t0 = time.perf_counter()
    key = vault.create_vault(sealed_dir, "bench passphrase")  # real scrypt, untimed
    keygen_s = time.perf_counter() - t0
    fs = SealedFS(key)
    stores = {"plain": Store(plain_dir), "sealed": Store(fs.root)}

    results: list[dict[str, Any]] = []
    for n in sizes:
        msgs = _messages(n)
        chats = {}
        for side, store in stores.items():
            info = store.new_chat(["mara"], ["You"], f"{n} messages")
            store.replace_messages(info.id, msgs)
            chats[side] = info.id
        plain_file = plain_dir / "chats" / chats["plain"] / "messages.jsonl"
        times: dict[str, dict[str, list[float]]] = {
            side: {"append": [], "load": []} for side in stores
        }
        for side, store in stores.items():  # one warm-up each (imports, caches)
            store.messages(chats[side])
        for r in range(runs):
            order = list(stores) if r % 2 == 0 else list(reversed(stores))
            for side in order:
                store, chat = stores[side], chats[side]
                reply = Message.new("Mara", "assistant", _text(n + r))
                times[side]["append"].append(
                    _timed(lambda store=store, chat=chat, reply=reply: store.append(chat, reply))
                )
            for side in order:
                store, chat = stores[side], chats[side]
                loaded: list[int] = []
                times[side]["load"].append(
                    _timed(lambda loaded=loaded, store=store, chat=chat: loaded.append(len(store.messages(chat)[0])))
                )
                if loaded != [n + r + 1]:
                    raise RuntimeError(f"{side} chat of {n}: loaded {loaded}, expected {n + r + 1}")
        row: dict[str, Any] = {"messages": n, "file_kib": round(plain_file.stat().st_size / 1024, 1)}
        for op in ("append", "load"):
            p, s = _median(times["plain"][op]), _median(times["sealed"][op])
            row[op] = {
                "plain_ms": round(p, 3),
                "sealed_ms": round(s, 3),
                "ratio": round(s / p, 2) if p > 0 else None,
                "plain_min_max_ms": [round(min(times["plain"][op]), 3), round(max(times["plain"][op]), 3)],
                "sealed_min_max_ms": [round(min(times["sealed"][op]), 3), round(max(times["sealed"][op]), 3)],
            }
        row["mib"] = plain_file.stat().st_size / (1 << 20)
        row["append"]["extra_ms"] = round(row["append"]["sealed_ms"] - row["append"]["plain_ms"], 3)
        results.append(row)

    # what one more MiB of chat adds to a sealed append: the slope between the
    # smallest and the largest chat (a fixed part, the key and chat.toml, cancels)
    slope = None
    if len(results) > 1 and results[-1]["mib"] > results[0]["mib"]:
        lo, hi = results[0], results[-1]
        slope = round((hi["append"]["extra_ms"] - lo["append"]["extra_ms"]) / (hi["mib"] - lo["mib"]), 2)
    for row in results:
        row["mib"] = round(row["mib"], 3)

    return {
        "bench": "sealed_io",
        "runs": runs,
        "message_bytes": round(plain_file.stat().st_size / (sizes[-1] + runs), 1),
        "keygen_s": round(keygen_s, 2),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "sizes": results,
        "sealed_append_ms_per_mib": slope,
    }


def _written() -> int | None:
    """Bytes this process has written so far (Linux), or None."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def append_scaling(sizes: Sequence[int], workdir: Path) -> list[dict[str, Any]]:
    """Mean cost of one append over a full segment cycle, per chat length."""
    key = vault.create_vault(workdir / "sealed", "bench passphrase")
    stores = {"plain": Store(workdir / "plain"), "sealed": Store(SealedFS(key).root)}
    cycle = segments.SEGMENT_LINES
    rows: list[dict[str, Any]] = []
    for n in sizes:
        msgs = _messages(n)
        chats = {}
        for side, store in stores.items():
            info = store.new_chat(["mara"], ["You"], f"{n} messages")
            store.replace_messages(info.id, msgs)
            store.count(info.id)  # opened, as the chat screen does
            chats[side] = info.id
        opened = _open_cost(key, chats["sealed"])
        ms: dict[str, list[float]] = {side: [] for side in stores}
        written: dict[str, list[int]] = {side: [] for side in stores}
        for i in range(cycle):
            for side in (list(stores) if i % 2 == 0 else list(reversed(stores))):
                store, chat = stores[side], chats[side]
                reply = Message.new("Mara", "assistant", _text(n + i))
                before = _written()
                ms[side].append(_timed(lambda store=store, chat=chat, reply=reply: store.append(chat, reply)))
                after = _written()
                if before is not None and after is not None:
                    written[side].append(after - before)
        row: dict[str, Any] = {"messages": n, "open": opened}
        for side in stores:
            row[side] = {
                "ms": round(statistics.mean(ms[side]), 3),
                "bytes": round(statistics.mean(written[side])) if written[side] else None,
            }
        rows.append(row)
    base = rows[0]
    for row in rows:
        for side in stores:
            b = base[side]
            row[side]["ms_ratio"] = round(row[side]["ms"] / b["ms"], 2) if b["ms"] else None
            row[side]["bytes_ratio"] = (
                round(row[side]["bytes"] / b["bytes"], 2) if b["bytes"] and row[side]["bytes"] is not None else None
            )
        row["open"]["ms_ratio"] = round(row["open"]["ms"] / base["open"]["ms"], 2) if base["open"]["ms"] else None
    return rows


def _open_cost(key: vault.Vault, chat: str, tail: int = 60) -> dict[str, Any]:
    """Opening a sealed chat as the chat screen does: the first ``count``
    and last page on a fresh ``Store`` (the profile already unlocked); the
    median of 5, and how many segments of ``messages.jsonl`` it decrypted."""
    fs = SealedFS(key)
    decrypted: list[str] = []
    read_segment = fs.read_segment

    def counting(rel: str, opaque: str) -> bytes:
        decrypted.append(opaque)
        return read_segment(rel, opaque)

    fs.read_segment = counting  # type: ignore[method-assign]
    times = []
    for _ in range(5):
        decrypted.clear()
        store = Store(fs.root)
        times.append(_timed(lambda store=store: (store.count(chat), store.tail(chat, tail))))
    return {"ms": round(_median(times), 2), "segments_decrypted": len(decrypted),
            "segments": len(fs.segment_files(f"chats/{chat}/messages.jsonl"))}


def _print_scaling(rows: list[dict[str, Any]]) -> None:
    print()
    print(f"append by chat length: mean of one cycle of {segments.SEGMENT_LINES} appends "
          f"(ratio: against {rows[0]['messages']} messages)")
    print(f"{'messages':>8} | {'sealed ms':>9} {'ratio':>6} {'bytes':>9} {'ratio':>6} | "
          f"{'plain ms':>8} {'ratio':>6} {'bytes':>7} {'ratio':>6}")
    for row in rows:
        s, p = row["sealed"], row["plain"]
        print(f"{row['messages']:>8} | {s['ms']:>9.2f} {s['ms_ratio']:>6.2f} {s['bytes'] or 0:>9} "
              f"{s['bytes_ratio'] or 0:>6.2f} | {p['ms']:>8.2f} {p['ms_ratio']:>6.2f} "
              f"{p['bytes'] or 0:>7} {p['bytes_ratio'] or 0:>6.2f}")
    print("bytes = everything the process wrote for the append (segment, index, chat.toml)")
    print()
    print("opening a sealed chat: first count + last 60 messages on a fresh Store (median of 5)")
    print(f"{'messages':>8} | {'open ms':>8} {'ratio':>6} | {'segments decrypted':>18} {'of':>5}")
    for row in rows:
        o = row["open"]
        print(f"{row['messages']:>8} | {o['ms']:>8.2f} {o['ms_ratio'] or 0:>6.2f} | "
              f"{o['segments_decrypted']:>18} {o['segments']:>5}")


def _print_table(res: dict[str, Any]) -> None:
    print(f"sealed_io: plain Store vs encrypted Store, {res['runs']} runs per size (medians)")
    print(f"machine  {res['machine']}, Python {res['python']}")
    print(f"messages about {res['message_bytes']} bytes each; key made once with scrypt "
          f"in {res['keygen_s']} s (not timed)")
    print()
    print(f"{'messages':>8} {'file KiB':>9} | {'append ms plain':>15} {'sealed':>8} {'ratio':>6} | "
          f"{'load ms plain':>13} {'sealed':>8} {'ratio':>6}")
    for row in res["sizes"]:
        a, lo = row["append"], row["load"]
        print(f"{row['messages']:>8} {row['file_kib']:>9} | {a['plain_ms']:>15.2f} {a['sealed_ms']:>8.2f} "
              f"{a['ratio']:>6.2f} | {lo['plain_ms']:>13.2f} {lo['sealed_ms']:>8.2f} {lo['ratio']:>6.2f}")
    print()
    if res["sealed_append_ms_per_mib"] is not None:
        print(f"sealed append costs {res['sealed_append_ms_per_mib']} ms more per MiB of chat "
              "(slope between the smallest and largest size)")
    print("append = Store.append of one message (plain: one fsynced line; sealed: the last")
    print("segment decrypted, extended and re-encrypted); load = Store.messages (read, decrypt, parse)")
    if res.get("append_by_length"):
        _print_scaling(res["append_by_length"])


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("sizes must be whole numbers of at least 1")
    return sizes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Append and load time: plain vs encrypted chat storage.")
    p.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                   help="chat sizes in messages, comma-separated (default 100,1000,5000)")
    p.add_argument("--append-sizes", type=_sizes, default=list(DEFAULT_APPEND_SIZES),
                   help="chat sizes for the append-by-length table (default 10,1000,5000,50000)")
    p.add_argument("--no-append-sizes", action="store_true", help="skip the append-by-length table")
    p.add_argument("--runs", type=positive_int, default=7, help="timed rounds per size (default 7)")
    p.add_argument("--dir", type=Path, default=None,
                   help="where to make the temporary profiles (default: the system temp folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="candlelit-sealed-io-", dir=args.dir) as tmp:
            res = run(args.sizes, args.runs, Path(tmp) / "compare")
            if not args.no_append_sizes:
                res["append_by_length"] = append_scaling(args.append_sizes, Path(tmp) / "by-length")
    except KeyboardInterrupt:
        print("sealed_io: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(res, separators=(",", ":")))
    else:
        _print_table(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
