"""The real `candlelit` CLI on the real llama-server: `--engine URL` and [engine]."""

from __future__ import annotations

import json
import subprocess
import sys

from server_support import LOOPBACK_ONLY, llama_server, spare_server, unused_port  # noqa: F401

pytestmark = LOOPBACK_ONLY


def cli(env, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_chat_say_and_prompt_through_the_server(cli_env, home, llama_server):
    chat_id = cli(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    said = cli(cli_env, "--engine", llama_server.url, "chat", "say", chat_id, "Hello Mara!",
               "--max-tokens", "8", "--seed", "1")
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip()
    shown = json.loads(cli(cli_env, "chat", "show", chat_id, "--json").stdout)
    last = shown["messages"][-1] if isinstance(shown, dict) else shown[-1]
    assert last["role"] in ("assistant", "character") and last["metrics"]["engine"] == "llama-server"
    assert last["metrics"]["prompt_tokens"] == last["metrics"]["reused_tokens"] + last["metrics"]["evaluated_tokens"]
    prompt = json.loads(cli(cli_env, "--engine", "openai+" + llama_server.url, "prompt", chat_id, "--json").stdout)
    assert prompt["prompt_tokens"] > 20 and "Hello Mara!" in prompt["text"]


def test_a_server_that_is_down_is_one_clear_line(cli_env, home, unused_port):
    chat_id = cli(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    out = cli(cli_env, "--engine", f"http://127.0.0.1:{unused_port}", "chat", "say", chat_id, "Hello?")
    assert out.returncode != 0
    assert "cannot reach the server at http://127.0.0.1" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") <= 2
    shown = json.loads(cli(cli_env, "chat", "show", chat_id, "--json").stdout)
    msgs = shown["messages"] if isinstance(shown, dict) else shown
    assert all(m["role"] != "user" for m in msgs)  # nothing half-done: no turn without its reply
