"""An encrypted profile through the real `candlelit` command and the real model:
nothing plain on disk, the chat resumes from its (encrypted) KV cache, the
files open with age tooling outside Candlelit, a wrong passphrase or a
tampered file gives one clear line and changes nothing, and `profile
decrypt` gives back the same chat as plain files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyrage
from pyrage import passphrase as age_passphrase
from pyrage import x25519

from tui.core import paths

PASS = "a long and private passphrase"
MARK = "QUILLFEATHER"
_OPAQUE = re.compile(r"^files/[0-9a-f]{32}\.age$")
_VAULT_FILES = {"vault.age", "vault.toml", "index.age", "index.lock"}


def cli(env, *args, stdin: str = "", timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )


def sec(env, *args, stdin: str = "", passphrase: str = PASS):
    return cli(env, "--profile", "sec", "--passphrase-stdin", *args, stdin=f"{passphrase}\n{stdin}")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*") if p.is_file()
    }


def open_with_age(folder: Path) -> tuple[x25519.Identity, dict[str, str]]:
    """What a user can do without Candlelit: passphrase -> identity -> index."""
    identity_text = age_passphrase.decrypt((folder / "vault.age").read_bytes(), PASS).decode()
    key = next(line for line in identity_text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    identity = x25519.Identity.from_str(key)
    index = json.loads(pyrage.decrypt((folder / "index.age").read_bytes(), [identity]))
    return identity, index["entries"]


def test_an_encrypted_profile_end_to_end(cli_env, home, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**cli_env, "TMPDIR": str(tmp)}
    made = cli(env, "profile", "create", "sec", "--encrypted", "--passphrase-stdin", stdin=f"{PASS}\n")
    assert made.returncode == 0, made.stderr
    assert "encrypted · locked" in cli(env, "profile", "list").stdout

    chat_id = sec(env, "chat", "new", "--character", "mara").stdout.strip()
    said = sec(env, "chat", "say", chat_id, "-", "--max-tokens", "8", "--seed", "1",
               stdin=f"My cat is called {MARK}.\n")
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip()  # the reply (no "Name:" prefix in a one-character chat)

    # 1. nothing plain on disk, anywhere under the data folder or in $TMPDIR
    folder = paths.resolve().profile("sec")
    names = set(snapshot(folder))
    assert _VAULT_FILES <= names
    assert all(_OPAQUE.fullmatch(n) for n in names - _VAULT_FILES), names
    for p in home.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert MARK.encode() not in data and b"Mara" not in data, p
    assert list(tmp.iterdir()) == []

    # 2. a new process resumes from the encrypted KV cache: only the new turn is read
    again = sec(env, "chat", "say", chat_id, "-", "--max-tokens", "4", "--seed", "1", stdin="And you?\n")
    assert again.returncode == 0, again.stderr
    shown = json.loads(sec(env, "chat", "show", chat_id, "--json").stdout)
    msgs = shown["messages"]
    assert [m["role"] for m in msgs] == ["character", "human", "character", "human", "character"]
    assert msgs[1]["text"] == f"My cat is called {MARK}."
    m = msgs[-1]["metrics"]
    assert m["reused_tokens"] > m["prompt_tokens"] - 40, m

    # 3. the files are standard age: passphrase -> identity -> index -> the chat
    identity, index = open_with_age(folder)
    opaque = index[f"chats/{chat_id}/messages.jsonl"]
    lines = pyrage.decrypt((folder / "files" / opaque).read_bytes(), [identity]).decode().splitlines()
    assert json.loads(lines[1])["text"] == f"My cat is called {MARK}."
    assert len(lines) == 5

    # 4. a wrong passphrase: one clear line, exit 2, nothing changed
    before = snapshot(folder)
    wrong = sec(env, "chat", "show", chat_id, passphrase="not it")
    assert wrong.returncode == 2
    assert "wrong passphrase" in wrong.stderr and "Traceback" not in wrong.stderr
    assert snapshot(folder) == before

    # 5. a tampered file is reported, never half-read, and left as it is
    target = folder / "files" / opaque
    blob = bytearray(target.read_bytes())
    blob[-10] ^= 0x01
    target.write_bytes(bytes(blob))
    tampered = snapshot(folder)
    bad = sec(env, "chat", "show", chat_id)
    assert bad.returncode == 2, bad.stdout
    assert "could not be decrypted" in bad.stderr and "Traceback" not in bad.stderr
    assert MARK not in bad.stdout
    assert snapshot(folder) == tampered
    blob[-10] ^= 0x01
    target.write_bytes(bytes(blob))

    # 6. decrypt in place: the same chat as plain files
    wrong = cli(env, "profile", "decrypt", "sec", "--passphrase-stdin", stdin="not it\n")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    back = cli(env, "profile", "decrypt", "sec", "--passphrase-stdin", stdin=f"{PASS}\n")
    assert back.returncode == 0, back.stderr
    assert not (folder / "vault.age").exists() and not (folder / "files").exists()
    plain = json.loads(cli(env, "--profile", "sec", "chat", "show", chat_id, "--json").stdout)
    assert [(x["speaker"], x["text"]) for x in plain["messages"]] == [
        (x["speaker"], x["text"]) for x in msgs
    ]
    assert MARK.encode() in (folder / "chats" / chat_id / "messages.jsonl").read_bytes()


def test_changing_the_passphrase(cli_env, home):
    made = cli(cli_env, "profile", "create", "sec", "--encrypted", "--passphrase-stdin", stdin=f"{PASS}\n")
    assert made.returncode == 0, made.stderr
    folder = paths.resolve().profile("sec")
    before = snapshot(folder)
    wrong = cli(cli_env, "profile", "passphrase", "sec", "--passphrase-stdin", stdin="not it\nnew one\n")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr
    assert snapshot(folder) == before
    changed = cli(cli_env, "profile", "passphrase", "sec", "--passphrase-stdin", stdin=f"{PASS}\nnew one\n")
    assert changed.returncode == 0, changed.stderr
    assert sec(cli_env, "chat", "list").returncode == 2  # the old passphrase no longer opens it
    listed = sec(cli_env, "chat", "list", "--json", passphrase="new one")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    after = snapshot(folder)
    assert after["index.age"] == before["index.age"]  # no data file was rewritten
