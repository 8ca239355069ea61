"""`candlelit prompt --json` with memory and the saved cache; `chat say` keeps
the cache between runs; `candlelit bench ttft` prints its summary as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tui.core import paths
from tui.core.config.settings import Config
from tui.core.memory.document import Memory, save_memory
from tui.core.profile.workspace import Workspace


def cli(env, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_prompt_json_shows_memory_and_what_the_saved_cache_would_reuse(cli_env, home):
    chat_id = cli(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    ws = Workspace(paths.resolve(), Config())
    save_memory(ws.store.chat_dir(chat_id), Memory(pinned_summary="Sam keeps bees on the roof."))
    before = json.loads(cli(cli_env, "prompt", chat_id, "--json").stdout)
    assert [s["name"] for s in before["sections"]][:4] == ["system", "examples", "memory", "window"]
    memory = next(s for s in before["sections"] if s["name"] == "memory")
    assert "Sam keeps bees on the roof." in memory["text"] and memory["tokens"] > 5
    assert before["reusable_tokens"] is None  # no saved cache yet

    said = cli(cli_env, "chat", "say", chat_id, "Hello!", "--max-tokens", "6", "--seed", "1")
    assert said.returncode == 0, said.stderr
    kv = ws.store.chat_dir(chat_id) / "kv"
    assert (kv / "state.bin").stat().st_size > 0
    after = json.loads(cli(cli_env, "prompt", chat_id, "--json").stdout)
    system = next(s for s in after["sections"] if s["name"] == "system")
    assert system["cached_tokens"] == system["tokens"]          # the stable part is in the saved cache
    assert after["reusable_tokens"] >= system["tokens"] + memory["tokens"]

    # the next run restores the cache: only the new message and reply prefix are read
    again = cli(cli_env, "chat", "say", chat_id, "How are you?", "--max-tokens", "4", "--seed", "1")
    assert again.returncode == 0, again.stderr
    shown = json.loads(cli(cli_env, "chat", "show", chat_id, "--json").stdout)
    last = shown["messages"][-1] if isinstance(shown, dict) else shown[-1]
    m = last["metrics"]
    assert m["reused_tokens"] > m["prompt_tokens"] - 40, m


def test_bench_ttft_prints_its_summary_as_json(cli_env, home):
    out = cli(cli_env, "bench", "ttft", "--turns", "12", "--resume-tokens", "400", "--json", timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("ttft_ratio_late_vs_early", "naive_vs_ours", "resume_ratio"):
        assert isinstance(summary[key], float) and summary[key] > 0
    assert summary["settings"]["turns"] == 12
    assert "ours  turn  12" in out.stderr
