"""A chat that arrives long catches up its memory on the real model, a
chunk at a time, oldest first; stopping keeps every finished fold and the
next run goes on from there (`candlelit chat memory --catch-up`)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
from conftest import sigint_as_in_a_terminal

from tui.bench.long_chat_data import fill_chat
from tui.core import paths
from tui.core.config.load import load_config
from tui.core.memory.document import load_memory
from tui.core.profile.workspace import Workspace

pytestmark = pytest.mark.model

PROGRESS = re.compile(r"memory: ([\d,]+) of ([\d,]+) messages summarized")


def cli(env, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def catch_up_until(env, chat_id: str, folds: int) -> tuple[int, int]:
    """Run --catch-up, Ctrl+C after ``folds`` folds; (exit status, last count shown)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "chat", "memory", chat_id, "--catch-up"],
        env=dict(env, PYTHONFAULTHANDLER="1"),  # SIGABRT prints where every thread is
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=sigint_as_in_a_terminal,  # Ctrl+C reaches it however the suite was started
    )
    seen: list[int] = []
    try:
        for line in proc.stderr:
            m = PROGRESS.search(line)
            if m:
                seen.append(int(m.group(1).replace(",", "")))
                if len(seen) > folds:  # the first line is the count before any fold
                    proc.send_signal(signal.SIGINT)
                    break
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _out, err = proc.communicate(timeout=30)
            why = "Ctrl+C did not stop the catch-up within 120 s; its threads:"
            raise AssertionError(f"{why}\n{err[-6000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, seen[-1]


def test_backlog_catch_up_stops_and_resumes(cli_env, home, tmp_path):
    (tmp_path / "config.toml").write_text("[model]\nn_ctx = 1024\n")
    chat_id = cli(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    ws = Workspace(paths.resolve(), load_config(paths.resolve().config_file))
    ids = fill_chat(ws.store, chat_id, 400)

    before = json.loads(cli(cli_env, "chat", "memory", chat_id, "--json").stdout)
    assert before == {"chat": chat_id, "summarized": 0, "messages": 400}

    rc, shown = catch_up_until(cli_env, chat_id, folds=2)
    assert rc == 130
    first = json.loads(cli(cli_env, "chat", "memory", chat_id, "--json").stdout)["summarized"]
    assert first >= shown > 0  # every fold reported was saved (one more may have finished)
    mem = load_memory(ws.store.chat_dir(chat_id))
    assert mem.folded_upto == ids[first - 1]  # oldest first: exactly the first messages
    assert mem.summary.strip()

    rc, shown = catch_up_until(cli_env, chat_id, folds=1)
    assert rc == 130
    second = json.loads(cli(cli_env, "chat", "memory", chat_id, "--json").stdout)["summarized"]
    assert second > first  # went on from where it stopped, not from the start

    # meanwhile the prompt holds the summary so far and the newest messages
    prompt = json.loads(cli(cli_env, "prompt", chat_id, "--json").stdout)
    names = [s["name"] for s in prompt["sections"]]
    assert "memory" in names
    window = next(s for s in prompt["sections"] if s["name"] == "window")
    assert "Line 400:" in window["text"] and "Line 1:" not in window["text"]
