"""The real `candlelit` command in temporary homes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sigint_as_in_a_terminal


def candlelit_cmd() -> list[str]:
    return [sys.executable, "-m", "tui"]



def cl(env, *args, check=True, timeout=120):
    r = subprocess.run(candlelit_cmd() + list(args), env=env, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    return r


def assert_user_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("candlelit: error: ")
    for n in needles:
        assert n in line, line


def test_version(cli_env):
    assert cl(cli_env, "--version").stdout.strip().startswith("candlelit 0.")


def test_card_list_json_has_the_starters(cli_env):
    cards = json.loads(cl(cli_env, "card", "list", "--json").stdout)
    slugs = {c["slug"] for c in cards}
    assert {"mara", "vesper", "the-narrator"} <= slugs
    mara = next(c for c in cards if c["slug"] == "mara")
    assert mara["name"].startswith("Mara") and "bookseller" in mara["description"]


def test_full_chat_flow(cli_env, home):
    chat_id = cl(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    assert chat_id and (home / "profiles" / "default" / "chats" / chat_id / "chat.toml").is_file()

    r = cl(
        cli_env, "chat", "say", chat_id, "Hello Mara! Any book for a rainy evening?",
        "--seed", "5", "--max-tokens", "40",
    )
    reply = r.stdout.strip()
    assert reply

    shown = json.loads(cl(cli_env, "chat", "show", chat_id, "--json").stdout)
    assert shown["id"] == chat_id
    msgs = shown["messages"]
    assert [m["role"] for m in msgs] == ["character", "human", "character"]
    assert [m["stored_role"] for m in msgs] == ["assistant", "user", "assistant"]
    assert msgs[1]["text"] == "Hello Mara! Any book for a rainy evening?"
    assert msgs[2]["text"] == reply and msgs[2]["speaker"] == "Mara"
    m = msgs[2]["metrics"]
    assert m["prompt_tokens"] > 100 and m["evaluated_tokens"] == m["prompt_tokens"] - m["reused_tokens"]
    assert m["ttft_s"] > 0 and m["tokens_per_s"] > 0
    for key in ("id", "speaker", "role", "text"):
        assert key in msgs[0]

    text = cl(cli_env, "chat", "show", chat_id).stdout
    assert "User: Hello Mara!" in text and f"Mara: {reply}" in text

    listed = json.loads(cl(cli_env, "chat", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [chat_id]

    p = json.loads(cl(cli_env, "prompt", chat_id, "--json").stdout)
    assert [s["name"] for s in p["sections"]] == ["system", "examples", "window", "reply"]
    assert sum(s["tokens"] for s in p["sections"]) == p["prompt_tokens"]
    assert p["text"].endswith("\nMara:") and reply in p["text"]
    assert cl(cli_env, "prompt", chat_id).stdout.rstrip("\n") == p["text"]


def test_same_seed_same_reply(cli_env):
    a = cl(cli_env, "chat", "new", "--character", "vesper").stdout.strip()
    b = cl(cli_env, "chat", "new", "--character", "vesper").stdout.strip()
    ra = cl(cli_env, "chat", "say", a, "Ready for a rematch?", "--seed", "11", "--max-tokens", "24").stdout
    rb = cl(cli_env, "chat", "say", b, "Ready for a rematch?", "--seed", "11", "--max-tokens", "24").stdout
    assert ra == rb and ra.strip()


def test_user_errors_are_one_line_exit_2(cli_env, tmp_path):
    assert_user_error(cl(cli_env, "chat", "show", "nope", check=False), "no chat 'nope'")
    assert_user_error(cl(cli_env, "chat", "say", "nope", "hi", check=False), "no chat 'nope'")
    assert_user_error(cl(cli_env, "chat", "new", "--character", "ghost", check=False), "no character 'ghost'")
    assert_user_error(cl(cli_env, "chat", "show", "../../etc", check=False))
    r = cl(cli_env, "chat", "frobnicate", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[model\nn_ctx = 1\n", ":1: invalid TOML"),
        ("[sampling]\ntemprature = 0.5\n", ':2: unknown key "temprature" in [sampling] (did you mean "temperature"?)'),
        ("[model]\n\nn_ctx = \"big\"\n", ":3: [model] n_ctx must be"),
    ],
)
def test_broken_config(cli_env, tmp_path, text, needle):
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    r = cl(cli_env, "card", "list", check=False)
    assert_user_error(r, str(cfg), needle)


def test_bad_model_files(cli_env, tmp_path):
    chat_id = cl(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    missing = tmp_path / "missing.gguf"
    assert_user_error(cl(cli_env, "--model", str(missing), "chat", "say", chat_id, "hi", check=False), str(missing))
    text = tmp_path / "notes.gguf"
    text.write_text("just some notes, not a model\n" * 10)
    assert_user_error(cl(cli_env, "--model", str(text), "chat", "say", chat_id, "hi", check=False), "not a GGUF")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(open(cli_env["CANDLELIT_CACHE"] + "/models/gemma-3-270m-q4_k_m.gguf", "rb").read(5_000_000))
    env = dict(cli_env, CANDLELIT_MODEL=str(truncated))
    assert_user_error(cl(env, "chat", "say", chat_id, "hi", check=False), str(truncated))
    # nothing was lost: the user's message is not stored for a turn that never started
    msgs = json.loads(cl(cli_env, "chat", "show", chat_id, "--json").stdout)["messages"]
    assert [m["role"] for m in msgs] == ["character"]


# A flat distribution over the whole vocabulary: an end-of-turn token or the
# stop string is practically never sampled, so the reply runs to --max-tokens
# (seconds on 2 cores) and is certainly still streaming when the signal comes.
# With the default sampling this prompt's reply is 7 tokens, about 0.2 s after
# the first chunk: a busy machine could let it finish before the signal.
ENDLESS_SAMPLING = "[sampling]\ntemperature = 3.0\ntop_k = 0\ntop_p = 1.0\nmin_p = 0.0\nrepeat_penalty = 1.0\n"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_interrupt_keeps_partial_reply(cli_env, sig, code):
    Path(cli_env["CANDLELIT_CONFIG"]).write_text(ENDLESS_SAMPLING)
    chat_id = cl(cli_env, "chat", "new", "--character", "the-narrator").stdout.strip()
    env = dict(cli_env, PYTHONIOENCODING="utf-8")  # the reply is any tokens at all
    proc = subprocess.Popen(
        candlelit_cmd()
        + ["chat", "say", chat_id, "Describe the inn in great detail.", "--max-tokens", "400", "--seed", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        preexec_fn=sigint_as_in_a_terminal,
    )
    try:
        first = proc.stdout.read(1)  # the reply has started streaming
        assert first
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code and "Traceback" not in err, (proc.returncode, err)
    assert "partial reply was saved" in err
    msgs = json.loads(cl(cli_env, "chat", "show", chat_id, "--json").stdout)["messages"]
    last = msgs[-1]
    assert last["role"] == "character" and last["status"] == "stopped" and last["text"]
    assert msgs[-2]["text"] == "Describe the inn in great detail."


def test_state_goes_to_state_file_never_config(cli_env, home, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("# my settings\n[sampling]\ntemperature = 0.7  # warm\n")
    before = cfg.read_bytes()
    chat_id = cl(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    assert cfg.read_bytes() == before
    state = (home / "state.toml").read_text()
    assert f'last_chat = "{chat_id}"' in state
    assert oct((home / "state.toml").stat().st_mode & 0o777) == "0o600"


def test_disk_full_is_one_clear_line(home, monkeypatch, capsys):
    import errno

    from tui.cli import main as cli
    from tui.core import fsio

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(home))

    monkeypatch.setattr(fsio.os, "write", full)
    code = cli.main(["chat", "new", "--character", "mara"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("candlelit: error: No space left on device")
    assert "Traceback" not in err
