"""TUI responsiveness, measured as a person would feel it.

1. Launch to first interactive frame: start `candlelit` in tmux and poll the
   screen until the home screen is drawn; the model loads in the background
   meanwhile. Baseline in the same run: a minimal Textual app (a Static and
   a Footer) launched and detected the same way.
2. Keystroke-to-echo while a reply streams: headless app with the real
   engine; type into the composer while the model generates and time each
   key until it shows in the composer. Baseline in the same run: the same
   keys with no generation running.

    python bench/tui_latency.py [--runs 5] [--keys 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MINIMAL_APP = """
from textual.app import App
from textual.widgets import Footer, Static
class Minimal(App):
    def compose(self):
        yield Static("Characters")
        yield Footer()
Minimal().run()
"""


def _tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def time_to_frame(cmd: str, marker: str, timeout: float = 20.0) -> float:
    name = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    _tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", "cat")
    t0 = time.perf_counter()
    _tmux("respawn-pane", "-k", "-t", name, cmd)
    try:
        while time.perf_counter() - t0 < timeout:
            if marker in _tmux("capture-pane", "-p", "-t", name).stdout:
                return time.perf_counter() - t0
            time.sleep(0.005)
        raise RuntimeError(f"{marker!r} never appeared")
    finally:
        _tmux("kill-session", "-t", name, check=False)


def bench_launch(runs: int, env: dict[str, str]) -> dict:
    py = shlex.quote(sys.executable)
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(MINIMAL_APP)
    base_cmd = f"env {envs} {py} {shlex.quote(f.name)}"
    app_cmd = f"env {envs} {py} -m tui"
    base, app = [], []
    time_to_frame(app_cmd, "Characters")  # warm the OS file cache
    for _ in range(runs):
        base.append(time_to_frame(base_cmd, "Characters"))
        app.append(time_to_frame(app_cmd, "Recent chats"))
    os.unlink(f.name)
    return {"baseline_s": statistics.median(base), "candlelit_s": statistics.median(app),
            "ratio": statistics.median(app) / statistics.median(base)}


async def _echo_latencies(app, pilot, keys: int, while_busy=None) -> list[float]:
    """Post a key event to the focused composer (as the driver does) and
    time until its text shows it; Pilot.press itself waits for animations
    and would measure the test harness instead of the app."""
    from textual import events

    from tui.ui.widgets.composer import Composer

    composer = app.screen.query_one(Composer)
    out: list[float] = []
    i = 0
    while len(out) < keys:
        i += 1
        if while_busy is not None:
            await while_busy()
        ch = "abcdefghij"[i % 10]
        before = composer.text
        t0 = time.perf_counter()
        composer.post_message(events.Key(ch, ch))
        while composer.text == before:
            await asyncio.sleep(0.0005)
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.03)  # a fast typist: ~30 keys per second
    composer.clear()
    return out


async def bench_echo(keys: int) -> dict:
    from tui.core import paths
    from tui.core.config.settings import Config, replace
    from tui.core.profile.workspace import Workspace
    from tui.ui.app import make_app
    from tui.ui.screens.chat import ChatScreen
    from tui.ui.widgets.composer import Composer

    ws = Workspace(paths.resolve(), replace(Config(), sampling={"max_tokens": 400, "seed": 3}))
    engine = ws.open_engine(ws.model_path())
    chat = ws.new_chat("the-narrator")
    app = make_app(ws, engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        while not (isinstance(app.screen, ChatScreen) and app.screen.ready):
            await pilot.pause(0.01)
        screen = app.screen
        idle = await _echo_latencies(app, pilot, keys)
        screen.query_one(Composer).insert("Describe the whole inn, room by room, in great detail.")
        await pilot.press("enter")
        regenerations = 0

        async def ensure_streaming() -> None:
            # every measured key is typed while a reply is streaming in
            nonlocal regenerations
            if screen.busy is None:
                regenerations += 1
                await screen.action_regenerate()
            while screen.streaming is None or len(screen.streaming.text) < 5:
                await asyncio.sleep(0.005)

        busy = await _echo_latencies(app, pilot, keys, ensure_streaming)
        still_streaming = regenerations
        if screen.cancel is not None:
            screen.cancel.set()
        while screen.busy is not None:
            await pilot.pause(0.02)
    engine.close()
    return {"idle_median_ms": statistics.median(idle) * 1000, "streaming_median_ms": statistics.median(busy) * 1000,
            "streaming_p95_ms": sorted(busy)[int(0.95 * (len(busy) - 1))] * 1000,
            "ratio": statistics.median(busy) / statistics.median(idle), "streamed_throughout": still_streaming}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keys", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CANDLELIT_HOME": f"{tmp}/home", "CANDLELIT_CONFIG": f"{tmp}/config.toml", "TERM": "xterm-256color"}
        if os.environ.get("CANDLELIT_CACHE"):
            env["CANDLELIT_CACHE"] = os.environ["CANDLELIT_CACHE"]
        launch = bench_launch(args.runs, env)
        print(f"launch to first frame: candlelit {launch['candlelit_s']:.3f} s, minimal Textual app "
              f"{launch['baseline_s']:.3f} s, ratio {launch['ratio']:.2f} (target: candlelit < 0.5 s)")
        os.environ.update(env)
        echo = asyncio.run(bench_echo(args.keys))
        print(f"keystroke to echo: idle {echo['idle_median_ms']:.1f} ms, while streaming "
              f"{echo['streaming_median_ms']:.1f} ms (p95 {echo['streaming_p95_ms']:.1f} ms), "
              f"ratio {echo['ratio']:.2f} "
              f"(target < 50 ms; every key typed mid-stream; {echo['streamed_throughout']} extra replies started)")


if __name__ == "__main__":
    main()
