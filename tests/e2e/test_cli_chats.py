"""`candlelit chat import` / `chat export` through the real command, on the
SillyTavern fixtures in tests/fixtures/st/. No model is needed, so the
environment comes from the ``home`` fixture."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "st"
PASS = "a long and private passphrase"


@pytest.fixture
def env(home, tmp_path) -> dict[str, str]:
    e = dict(os.environ)  # ``home`` already pointed CANDLELIT_* at the temp folders
    e["PYTHONUNBUFFERED"] = "1"
    e["TZ"] = "UTC"
    seraphina = tmp_path / "seraphina-card.json"
    seraphina.write_text(json.dumps({
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {"name": "Seraphina", "description": "Seraphina is an adult forest guardian.", "first_mes": "Hi."},
    }), encoding="utf-8")
    assert cl(e, "card", "import", str(seraphina)).stdout.strip() == "seraphina"
    return e


def cl(env, *args, check=True, stdin: str | None = None):
    r = subprocess.run([sys.executable, "-m", "tui", *args], env=env, input=stdin,
                       capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    assert "Traceback" not in r.stderr, r.stderr
    return r


def error_lines(r) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.startswith("candlelit: error: ")]


def st_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def test_import_show_and_export_every_format(env, tmp_path):
    r = cl(env, "chat", "import", str(FIXTURES / "seraphina.jsonl"))
    chat_id = r.stdout.strip()
    assert len(chat_id.splitlines()) == 1 and r.stderr == ""
    shown = json.loads(cl(env, "chat", "show", chat_id, "--json").stdout)
    assert shown["characters"] == ["seraphina"] and len(shown["messages"]) == 8
    assert shown["messages"][2]["text"] == "You are safe here, in my glade."
    assert shown["messages"][2]["reasoning"] == "THINKING-ONE: reassure them first."

    out = tmp_path / "back.jsonl"
    r = cl(env, "chat", "export", chat_id, "--format", "st", "-o", str(out))
    assert r.stdout.strip() == str(out) and r.stderr == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert st_lines(out.read_text(encoding="utf-8")) == st_lines(
        (FIXTURES / "seraphina.jsonl").read_text(encoding="utf-8")
    )

    md = cl(env, "chat", "export", chat_id, "--format", "md").stdout
    assert md.startswith("# seraphina\n") and "### Alex · 2024-07-12 01:32 UTC\n\nWhere am I?" in md
    txt = cl(env, "chat", "export", chat_id, "--format", "txt").stdout
    assert "[2024-07-12 01:35 UTC] System: The wind rises over the glade." in txt
    ours = cl(env, "chat", "export", chat_id, "--format", "jsonl").stdout
    assert [json.loads(line)["text"] for line in ours.split("\n") if line] == [m["text"] for m in shown["messages"]]


def test_group_import_with_personas_and_characters(env):
    r = cl(env, "chat", "import", str(FIXTURES / "group_shop.jsonl"))
    chat_id = r.stdout.strip()
    assert "added the persona 'Alex'" in r.stderr and "added the persona 'Sam'" in r.stderr
    shown = json.loads(cl(env, "chat", "show", chat_id, "--json").stdout)
    assert shown["group"] is True and shown["characters"] == ["mara", "vesper"]
    assert shown["personas"] == ["Alex", "Sam"]
    assert [m["speaker"] for m in shown["messages"]] == ["Mara", "Alex", "Vesper", "Sam", "Mara"]
    personas = [p["name"] for p in json.loads(cl(env, "persona", "list", "--json").stdout)]
    assert {"Alex", "Sam"} <= set(personas)

    cl(env, "persona", "add", "Robin")
    again = cl(env, "chat", "import", str(FIXTURES / "group_shop.jsonl"),
               "--character", "vesper", "--character", "mara", "--persona", "Robin").stdout.strip()
    shown = json.loads(cl(env, "chat", "show", again, "--json").stdout)
    assert shown["characters"] == ["vesper", "mara"] and shown["personas"] == ["Robin"]
    assert [m["speaker"] for m in shown["messages"] if m["role"] == "human"] == ["Robin", "Robin"]


def test_a_malformed_line_is_one_line_exit_2_and_nothing_is_imported(env, home):
    r = cl(env, "chat", "import", str(FIXTURES / "malformed_middle.jsonl"), check=False)
    assert r.returncode == 2 and r.stdout == ""
    errors = error_lines(r)
    assert len(errors) == 1 and r.stderr.count("\n") == 1
    assert "malformed_middle.jsonl:3: not valid JSON" in errors[0]
    assert "no chats yet" in cl(env, "chat", "list").stdout
    chats = home / "profiles" / "default" / "chats"
    assert not chats.exists() or list(chats.iterdir()) == []


def test_good_files_are_imported_and_a_bad_one_still_exits_2(env):
    r = cl(env, "chat", "import", str(FIXTURES / "old_headerless.jsonl"), str(FIXTURES / "malformed_middle.jsonl"),
           str(FIXTURES / "torn_last.jsonl"), check=False)
    assert r.returncode == 2
    ids = r.stdout.split()
    assert len(ids) == 2
    assert "torn_last.jsonl:5: the last line is incomplete" in r.stderr
    assert len(error_lines(r)) == 1
    listed = json.loads(cl(env, "chat", "list", "--json").stdout)
    assert sorted(c["id"] for c in listed) == sorted(ids)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["chat", "import", "/nonexistent/x.jsonl"], "x.jsonl: file not found"),
        (["chat", "import", str(FIXTURES / "seraphina.jsonl"), "--character", "nobody"], "no character 'nobody'"),
        (["chat", "import", str(FIXTURES / "seraphina.jsonl"), "--persona", "Nobody"], "no persona named 'Nobody'"),
        (["chat", "export", "20990101-000000-abcd", "--format", "md"], "no chat '20990101-000000-abcd'"),
        (["chat", "export", "20990101-000000-abcd", "--format", "pdf"], "invalid choice: 'pdf'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(env, args, needle):
    r = cl(env, *args, check=False)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr.strip().splitlines()[-1]


def test_export_to_a_missing_folder_says_so(env, tmp_path):
    chat_id = cl(env, "chat", "import", str(FIXTURES / "seraphina.jsonl")).stdout.strip()
    r = cl(env, "chat", "export", chat_id, "--format", "md", "-o", str(tmp_path / "nope" / "x.md"), check=False)
    assert r.returncode == 2 and "does not exist" in error_lines(r)[0]
    r = cl(env, "chat", "export", chat_id, "--format", "md", "-o", str(tmp_path), check=False)
    assert r.returncode == 2 and "is a folder" in error_lines(r)[0]


def test_an_encrypted_profile_imports_sealed_and_exports_plain_only_where_asked(env, home, tmp_path):
    made = cl(env, "profile", "create", "sec", "--encrypted", "--passphrase-stdin", stdin=f"{PASS}\n")
    assert made.returncode == 0
    sec = ("--profile", "sec", "--passphrase-stdin")
    card = tmp_path / "seraphina-card.json"
    cl(env, *sec, "card", "import", str(card), stdin=f"{PASS}\n")
    chat_id = cl(env, *sec, "chat", "import", str(FIXTURES / "seraphina.jsonl"), stdin=f"{PASS}\n").stdout.strip()
    for p in (home / "profiles" / "sec").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert b"glade" not in data and b"THINKING" not in data and b"Seraphina" not in data, p
    out = tmp_path / "plain.md"
    r = cl(env, *sec, "chat", "export", chat_id, "--format", "md", "-o", str(out), stdin=f"{PASS}\n")
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("candlelit: warning: ")]
    assert warnings == [f"candlelit: warning: this profile is encrypted; the export to {out} is plain text"]
    assert "You are safe here, in my glade." in out.read_text(encoding="utf-8")
    r = cl(env, *sec, "chat", "export", chat_id, "--format", "st", stdin=f"{PASS}\n")
    assert "the export to standard output is plain text" in r.stderr
    assert st_lines(r.stdout) == st_lines((FIXTURES / "seraphina.jsonl").read_text(encoding="utf-8"))
