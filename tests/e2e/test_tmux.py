"""The real `candlelit` TUI in tmux, driven like a person would."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_for(name: str, predicate, timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = screen(name)
        if predicate(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"screen never matched; last screen:\n{text}")


def test_start_chat_stream_quit_then_show(cli_env, home, tmp_path):
    (tmp_path / "config.toml").write_text("[sampling]\nseed = 4\nmax_tokens = 40\ntemperature = 0.7\n")
    name = f"candlelit-{uuid.uuid4().hex[:8]}"
    env = " ".join(
        f"{k}={shlex.quote(cli_env[k])}" for k in ("CANDLELIT_HOME", "CANDLELIT_CONFIG", "CANDLELIT_CACHE")
    )
    cmd = f"env {env} TERM=xterm-256color {shlex.quote(sys.executable)} -m tui"
    # create the window first and start the app once its size has settled
    # (starting it with new-session can race tmux's own initial resize)
    tmux("new-session", "-d", "-s", name, "-x", "110", "-y", "34", "cat")
    tmux("respawn-pane", "-k", "-t", name, cmd)
    try:
        wait_for(name, lambda s: "Characters" in s and "Mara" in s and "Model: Gemma 3 270m" in s)
        tmux("send-keys", "-t", name, "Enter")  # the first starter: Mara
        wait_for(name, lambda s: "is typing" in s and "The bell over the door" in s)
        tmux("send-keys", "-t", name, "-l", "Good evening, Mara. Any tea left?")
        tmux("send-keys", "-t", name, "Enter")
        streaming = wait_for(name, lambda s: "writing…" in s or "tok/s" in s, timeout=30)
        assert "Good evening, Mara. Any tea left?" in streaming
        done = wait_for(name, lambda s: "tok/s" in s and "writing…" not in s)
        assert "LOCAL" in done and "Gemma 3 270m" in done
        tmux("send-keys", "-t", name, "C-q")
        end = time.monotonic() + 10
        while (
            time.monotonic() < end
            and subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode == 0
        ):
            time.sleep(0.2)
        assert subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0  # the app quit
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "tui", *a], env=cli_env, capture_output=True, text=True, check=True
        )

    chats = json.loads(run("chat", "list", "--json").stdout)
    assert len(chats) == 1
    msgs = json.loads(run("chat", "show", chats[0]["id"], "--json").stdout)["messages"]
    assert [m["role"] for m in msgs] == ["character", "human", "character"]
    assert msgs[1]["text"] == "Good evening, Mara. Any tea left?"
    reply = msgs[2]["text"]
    assert reply and msgs[2]["metrics"]["tokens_per_s"] > 0
    # what was streamed on screen is what was stored
    first_words = " ".join(reply.split()[:3])
    assert first_words in " ".join(done.split())


def test_screens_are_fully_drawn_in_a_real_terminal(cli_env, home):
    """Regression: screens that updated many widgets while mounting drew
    only those widgets in a real terminal (the rest of the frame stayed
    from the previous screen)."""
    name = f"candlelit-{uuid.uuid4().hex[:8]}"
    env = " ".join(f"{k}={shlex.quote(cli_env[k])}" for k in ("CANDLELIT_HOME", "CANDLELIT_CONFIG", "CANDLELIT_CACHE"))
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "cat")
    tmux("respawn-pane", "-k", "-t", name, f"env {env} TERM=xterm-256color {shlex.quote(sys.executable)} -m tui")
    try:
        wait_for(name, lambda s: "Recent chats" in s and "Profile: default" in s, timeout=30)
        tmux("send-keys", "-t", name, "s")  # Studio for the highlighted character
        s = wait_for(name, lambda s: "Studio · Ctrl+S save" in s, timeout=10)
        assert "Description" in s and "Recent chats" not in s and "Profile: default" not in s
        back = lambda s: "Recent chats" in s and "Studio" not in s.splitlines()[0]  # noqa: E731
        for _ in range(3):  # a lone ESC byte can be taken for the start of a sequence on a busy machine
            tmux("send-keys", "-t", name, "Escape")
            try:
                wait_for(name, back, timeout=4)
                break
            except AssertionError:
                continue
        wait_for(name, back, timeout=4)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
