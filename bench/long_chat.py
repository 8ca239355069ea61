"""Chats of any length: what history size costs when a chat is opened, sent
from and imported.

Run from the repository root::

    .venv/bin/python bench/long_chat.py                        # the table
    .venv/bin/python bench/long_chat.py --sizes 10,1000 --runs 5
    .venv/bin/python bench/long_chat.py --json                 # one JSON object on the last line

For chats of 10, 1,000, 10,000 and 50,000 messages (``tui.bench.long_chat_data.
fill_chat``: alternating user/character lines of 6 to 40 words) it measures,
each size in a fresh worker process of its own, so that one size's memory
never shows up in another's:

- **open**: the headless app (``make_app`` with a scripted engine, 100x30)
  pushes the chat screen; time until its first frame is painted, and until
  a painted frame shows the chat's last message (on screen, scrolled to the
  bottom). Each run builds a new ``Workspace`` (a cold store: the position
  index is read from disk).
- **RSS**: the worker's resident memory (``VmRSS`` in /proc/self/status)
  with the chat open, after the first run; reported as the difference from
  the 10-message chat.
- **jump to first**: ``ChatScreen.jump_to(0)`` (what Home on a focused
  message does) until a painted frame shows message 1.
- **prompt**: ``Session(ws, chat, engine).build_prompt()``, what
  ``candlelit prompt CHAT_ID`` does, with the real default model loaded
  vocab-only (as the command loads it; loading is not timed) and memory off,
  so nothing is folded: the worst case, the whole history is a candidate.
  First call on a new ``Session`` (no token counts cached yet).
- **import**: a SillyTavern ``.jsonl`` of that many messages (header line,
  ``name``/``is_user``/``send_date``/``mes``/``swipes``/``extra``) imported with
  ``tui.core.profile.st_chats.import_st_chat``, what ``candlelit chat import FILE
  --character mara`` runs after its argument parsing (interpreter start-up
  and the memory catch-up that follows are not included).

``--runs`` (3) rounds per size; medians are reported, each with its ratio
to the 10-message chat. The issue's targets: open at 50k within 300 ms (as
at 10), RSS at most +150 MB, prompt at most 1 s, a 20k import at most 5 s.
Everything runs in a temporary folder and offline; the model comes from the
usual cache (``CANDLELIT_CACHE``, assembled on first use).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # benchmark the working tree, installed or not
    sys.path.insert(0, str(_ROOT))

DEFAULT_SIZES = (10, 1000, 10_000, 50_000)
SIZE = (100, 30)
CHARACTER = "mara"


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def _workspace():
    from tui.core import paths
    from tui.core.config.settings import Config, replace
    from tui.core.profile.workspace import Workspace

    return Workspace(paths.resolve(), replace(Config(), memory={"enabled": False}))


# -- setup (in the parent: not measured) -----------------------------------------


def _st_file(path: Path, n: int) -> None:
    """A SillyTavern chat file of ``n`` messages, as SillyTavern writes one."""
    import random

    from tui.bench.long_chat_data import message_text

    rng = random.Random(11)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"user_name": "You", "character_name": "Mara", "create_date": "2026-1-1@00h00m00s",
                            "chat_metadata": {}}) + "\n")
        for i in range(n):
            human = i % 2 == 0
            text = message_text(i, rng)
            line: dict[str, Any] = {
                "name": "You" if human else "Mara", "is_user": human, "is_system": False,
                "send_date": f"2026-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
                "mes": text, "extra": {},
            }
            if not human:
                line.update(swipes=[text, text[::-1]], swipe_id=0,
                            swipe_info=[{"send_date": line["send_date"], "extra": {}}] * 2)
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def _setup(home: Path, n: int) -> dict[str, Any]:
    from tui.bench.long_chat_data import fill_chat

    os.environ["CANDLELIT_HOME"] = str(home)
    ws = _workspace()
    chat = ws.new_chat(CHARACTER)
    fill_chat(ws.store, chat.id, n)
    ws.store.count(chat.id)  # write the position index, as the first open would
    ws.store.flush_indexes()
    st = home.parent / f"st-{n}.jsonl"
    _st_file(st, n)
    jsonl = ws.store.chat_dir(chat.id) / "messages.jsonl"
    return {"chat_id": chat.id, "st_file": str(st), "file_mib": jsonl.stat().st_size / 2**20}


# -- the worker: one size, measured --------------------------------------------------


async def _open_once(n: int, chat_id: str, *, jump: bool) -> dict[str, float]:
    from textual.app import App

    from tui.core.engine.scripted import ScriptedEngine
    from tui.ui.app import make_app
    from tui.ui.screens.chat import ChatScreen
    from tui.ui.widgets.message_view import MessageView

    ws = _workspace()  # a cold store each run
    app = make_app(ws, engine=ScriptedEngine())
    marks: dict[str, float] = {}
    want: dict[str, Any] = {}
    seen = asyncio.Event()

    def shows(screen: ChatScreen, prefix: str, last: bool) -> bool:
        views = list(screen.query(MessageView))
        if not views:
            return False
        view = views[-1] if last else views[0]
        if not view.text.startswith(prefix):
            return False
        if view not in screen._compositor.visible_widgets:
            return False
        if last:
            box = screen.query_one("#messages")
            return box.scroll_y >= box.max_scroll_y - 1
        return True

    original = App._display

    def display(self, screen, renderable) -> None:
        original(self, screen, renderable)
        if renderable is None or not isinstance(screen, ChatScreen):
            return
        now = time.perf_counter()
        marks.setdefault("paint", now)
        goal = want.get("goal")
        if goal is not None and goal[0] not in marks and shows(screen, goal[1], goal[2]):
            marks[goal[0]] = now
            seen.set()

    app._display = display.__get__(app)  # this app only: every frame it paints
    out: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)  # the home screen is up and idle
        want["goal"] = ("last", f"Line {n}:", True)
        t0 = time.perf_counter()
        app.push_screen(ChatScreen(chat_id))
        await asyncio.wait_for(seen.wait(), 120)
        out["first_paint_ms"] = (marks["paint"] - t0) * 1000
        out["last_visible_ms"] = (marks["last"] - t0) * 1000
        await pilot.pause(0.2)
        gc.collect()
        out["rss_mib"] = _rss_mib()
        screen = app.screen
        assert isinstance(screen, ChatScreen) and screen.ready
        out["mounted"] = len(screen.query(MessageView))
        if jump:
            seen.clear()
            want["goal"] = ("first", "Line 1:", False)
            t0 = time.perf_counter()
            await screen.jump_to(0)
            await asyncio.wait_for(seen.wait(), 60)
            out["jump_first_ms"] = (marks["first"] - t0) * 1000
    return out


def _prompt_ms(chat_id: str) -> tuple[float, int]:
    from tui.core.chat.session import Session

    ws = _workspace()
    engine = ws.open_engine(ws.model_path(), vocab_only=True)
    try:
        t0 = time.perf_counter()
        prompt = Session(ws, chat_id, engine).build_prompt()
        ms = (time.perf_counter() - t0) * 1000
    finally:
        engine.close()
    return ms, len(prompt.tokens)


def _import_ms(st_file: str) -> tuple[float, int]:
    from tui.core.profile.st_chats import import_st_chat

    ws = _workspace()
    t0 = time.perf_counter()
    result = import_st_chat(ws, Path(st_file), characters=[CHARACTER])
    ms = (time.perf_counter() - t0) * 1000
    n = ws.store.count(result.info.id)
    ws.store.delete_chat(result.info.id)  # the next run imports into a clean profile again
    return ms, n


def _worker(n: int, chat_id: str, st_file: str, runs: int) -> dict[str, Any]:
    opens = [asyncio.run(_open_once(n, chat_id, jump=True)) for _ in range(runs)]
    prompts = [_prompt_ms(chat_id) for _ in range(runs)]
    imports = [_import_ms(st_file) for _ in range(runs)] if st_file else []
    if imports and imports[0][1] != n:
        raise RuntimeError(f"import of {n} messages kept {imports[0][1]}")
    med = statistics.median
    return {
        "first_paint_ms": med(o["first_paint_ms"] for o in opens),
        "last_visible_ms": med(o["last_visible_ms"] for o in opens),
        "jump_first_ms": med(o["jump_first_ms"] for o in opens),
        "rss_mib": opens[0]["rss_mib"],
        "mounted": max(o["mounted"] for o in opens),
        "prompt_ms": med(p[0] for p in prompts),
        "prompt_tokens": prompts[0][1],
        "import_ms": med(i[0] for i in imports) if imports else None,
    }


# -- the parent -----------------------------------------------------------------------


def _has_import() -> bool:
    try:
        from tui.core.profile import st_chats  # noqa: F401
    except ImportError:
        return False
    return True


def run(sizes: Sequence[int], runs: int) -> dict[str, Any]:
    rows = []
    can_import = _has_import()
    with tempfile.TemporaryDirectory(prefix="long-chat-") as tmp:
        env = dict(os.environ, CANDLELIT_CONFIG=f"{tmp}/config.toml", PYTHONHASHSEED="0")
        os.environ["CANDLELIT_CONFIG"] = env["CANDLELIT_CONFIG"]
        for n in sizes:
            home = Path(tmp) / f"home-{n}"
            setup = _setup(home, n)
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", str(n), setup["chat_id"],
                 setup["st_file"] if can_import else "", "--runs", str(runs)],
                env={**env, "CANDLELIT_HOME": str(home)}, capture_output=True, text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"worker for {n} messages failed:\n{proc.stderr[-4000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append({"messages": n, "file_mib": round(setup["file_mib"], 2), **row})
    base = rows[0]
    for row in rows:
        for key in ("first_paint_ms", "last_visible_ms", "jump_first_ms", "prompt_ms", "import_ms"):
            if row[key] is not None and base[key]:
                row[key.replace("_ms", "_ratio")] = row[key] / base[key]
        row["rss_delta_mib"] = row["rss_mib"] - base["rss_mib"]
    return {
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "runs": runs,
        "import": can_import,
        "rows": rows,
    }


def _ratio(row: dict, key: str) -> str:
    ms = row[key + "_ms"]
    if ms is None:
        return "n/a"
    return f"{ms:,.0f} ms ({row[key + '_ratio']:.2f}x)"


def _print_table(res: dict[str, Any]) -> None:
    print(f"long_chat: one worker process per size, {res['runs']} runs each (medians); "
          f"{res['machine']}, Python {res['python']}")
    print()
    cols = ["messages", "first paint", "last message shown", "RSS (vs 10)", "jump to first", "prompt build"]
    if res["import"]:
        cols.append("import")
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---:" for _ in cols) + "|")
    for row in res["rows"]:
        cells = [
            f"{row['messages']:,}",
            _ratio(row, "first_paint"),
            _ratio(row, "last_visible"),
            f"{row['rss_mib']:.0f} MiB ({row['rss_delta_mib']:+.0f})",
            _ratio(row, "jump_first"),
            _ratio(row, "prompt"),
        ]
        if res["import"]:
            cells.append(_ratio(row, "import"))
        print("| " + " | ".join(cells) + " |")
    print()
    print("ratios are against the 10-message chat; RSS with the chat open, difference from the 10-message chat")
    if not res["import"]:
        print("import: left out (this tree has no `candlelit chat import`)")
    print("targets: open at 50k within 300 ms (as at 10), RSS at most +150 MB, prompt at most 1 s, "
          "a 20k import at most 5 s")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be whole numbers of at least 1")
    return sizes


def _parser() -> argparse.ArgumentParser:
    from tui.bench.cli_args import positive_int

    p = argparse.ArgumentParser(description="Open, prompt and import time of long chats.")
    p.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                   help="comma-separated message counts; the first is the baseline (default 10,1000,10000,50000)")
    p.add_argument("--runs", type=positive_int, default=3, help="runs per size (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--worker", nargs=3, metavar=("N", "CHAT_ID", "ST_FILE"), help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        n, chat_id, st_file = args.worker
        print(json.dumps(_worker(int(n), chat_id, st_file, args.runs)))
        return 0
    try:
        res = run(args.sizes, args.runs)
    except KeyboardInterrupt:
        print("long_chat: interrupted", file=sys.stderr)
        return 130
    _print_table(res)
    if args.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
