"""`candlelit profile …` and `candlelit doctor` as a user runs them.

Until tui/cli/main.py registers tui.cli.privacy itself, the commands are run
through a tiny stand-in launcher (``LAUNCH``) that adds them the way cli.py
will; once cli.py has them, the launcher changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

LAUNCH = """
import argparse, sys
from tui.cli import main as cli
from tui.cli import privacy as cli_privacy

def _sub(p):
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))

if "profile" not in _sub(cli.build_parser()).choices:  # stand-in until cli.py wires it
    _build, _dispatch = cli.build_parser, cli._dispatch

    def build_parser():
        p = _build()
        cli_privacy.add_parsers(_sub(p), cli._Parser)
        return p

    def dispatch(args):
        key = (args.command, getattr(args, "action", None))
        if key in cli_privacy.HANDLERS:
            return cli_privacy.HANDLERS[key](cli._workspace(args), args)
        return _dispatch(args)

    cli.build_parser, cli._dispatch = build_parser, dispatch
sys.exit(cli.main(sys.argv[1:]))
"""


def cl(env, *args, check=True, stdin=None, timeout=120):
    r = subprocess.run(
        [sys.executable, "-c", LAUNCH, *args],
        env=env, capture_output=True, text=True, timeout=timeout,
        input=stdin if stdin is not None else "",
    )
    assert "Traceback" not in r.stderr, r.stderr
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    return r


def user_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("candlelit: error: "), line
    for n in needles:
        assert n in line, line


@pytest.fixture
def env(home):
    e = dict(os.environ)
    e["PYTHONUNBUFFERED"] = "1"
    return e


def test_create_list_rename_delete(env, home):
    assert "no profiles yet" in cl(env, "profile", "list").stdout
    cl(env, "profile", "create", "alex")
    r = cl(env, "profile", "create", "us", "--shared")
    assert "created shared profile us" in r.stdout and "both of you can see everything" in r.stderr
    listed = json.loads(cl(env, "profile", "list", "--json").stdout)
    assert [(p["name"], p["shared"], p["encrypted"], p["current"]) for p in listed] == [
        ("alex", False, False, False), ("us", True, False, False),
    ]
    text = cl(env, "--profile", "us", "profile", "list").stdout
    assert "* us" in text and "shared" in text and "  alex" in text

    cl(env, "profile", "rename", "alex", "alexa")
    assert (home / "profiles" / "alexa").is_dir() and not (home / "profiles" / "alex").exists()

    r = cl(env, "profile", "delete", "us", "--yes")
    assert "deleted profile us" in r.stdout and "SSDs" in r.stdout and "backups" in r.stdout
    assert [p.name for p in (home / "profiles").iterdir()] == ["alexa"]


def test_delete_refuses_without_yes_when_not_a_terminal(env, home):
    cl(env, "profile", "create", "alex")
    r = cl(env, "profile", "delete", "alex", check=False)
    user_error(r, "refusing to delete profile 'alex' without --yes")
    assert (home / "profiles" / "alex").is_dir()


def test_user_errors_are_one_line(env):
    user_error(cl(env, "profile", "create", "no good", check=False), "invalid profile name")
    user_error(cl(env, "profile", "delete", "ghost", "--yes", check=False), "no profile 'ghost'")
    user_error(cl(env, "profile", "rename", "ghost", "x", check=False), "no profile 'ghost'")
    cl(env, "profile", "create", "alex")
    user_error(cl(env, "profile", "create", "alex", check=False), "already exists")
    user_error(
        cl(env, "profile", "create", "x", "--passphrase-stdin", check=False),
        "--passphrase-stdin only makes sense with --encrypted",
    )
    # --encrypted without a terminal and without --passphrase-stdin: never guesses
    user_error(cl(env, "profile", "create", "sec", "--encrypted", check=False), "--passphrase-stdin")


def test_encrypted_profile_with_passphrase_on_stdin(env, home):
    r = cl(env, "profile", "create", "sec", "--encrypted", "--passphrase-stdin", stdin="tea by the window\n")
    assert "created encrypted profile sec" in r.stdout
    assert "everything it stores is age-encrypted" in r.stderr
    folder = home / "profiles" / "sec"
    assert (folder / "vault.age").is_file() and (folder / "vault.toml").is_file()
    assert b"tea by the window" not in (folder / "vault.age").read_bytes()
    from tui.core.privacy import vault

    vault.unlock(folder, "tea by the window").lock()  # the real age scrypt key opens
    listed = json.loads(cl(env, "profile", "list", "--json").stdout)
    assert listed[0]["encrypted"] is True

    r = cl(env, "profile", "delete", "sec", "--yes")
    assert "its key file was overwritten and removed first" in r.stdout and "does not know" in r.stdout
    assert not folder.exists()


def test_profiles_are_isolated_through_the_cli(env, home, tmp_path):
    card = tmp_path / "juniper.json"
    card.write_text(json.dumps({
        "spec": "chara_card_v3", "spec_version": "3.0",
        "data": {"name": "Juniper Vale", "description": "A 41-year-old lighthouse keeper.", "first_mes": "Hello."},
    }))
    typo = cl(env, "--profile", "alx", "chat", "list", check=False)
    assert typo.returncode == 2 and "no profile named 'alx'" in typo.stderr  # a typo starts nothing
    cl(env, "profile", "create", "alex")
    cl(env, "profile", "create", "sam")
    slug = cl(env, "--profile", "alex", "card", "import", str(card)).stdout.strip()
    chat_id = cl(env, "--profile", "alex", "chat", "new", "--character", slug).stdout.strip()
    assert chat_id in cl(env, "--profile", "alex", "chat", "list").stdout

    assert "no chats yet" in cl(env, "--profile", "sam", "chat", "list").stdout
    sam_cards = {c["slug"] for c in json.loads(cl(env, "--profile", "sam", "card", "list", "--json").stdout)}
    assert slug not in sam_cards and "mara" in sam_cards
    r = cl(env, "--profile", "sam", "chat", "show", chat_id, check=False)
    user_error(r, "no chat")

    listed = {p["name"]: p for p in json.loads(cl(env, "profile", "list", "--json").stdout)}
    assert listed["alex"]["chats"] == 1 and listed["sam"]["chats"] == 0


def test_doctor_reports_permission_problems(env, home):
    cl(env, "chat", "new", "--character", "mara")
    target = next(home.rglob("messages.jsonl"))
    os.chmod(target, 0o644)
    r = cl(env, "doctor", "--json", check=False)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["healthy"] is False
    assert any(str(target) in p for p in report["permission_problems"])
    assert report["network"] == "none used"


@pytest.mark.model
def test_doctor_healthy(env, home):
    cl(env, "chat", "new", "--character", "mara")
    r = cl(env, "doctor")
    assert r.returncode == 0
    out = r.stdout
    assert f"data:        {home}" in out
    assert "profile:     default, not encrypted" in out
    assert "permissions: ok" in out and "vocabulary loaded fine" in out
    assert "network:     none used" in out and "status:      healthy" in out
    report = json.loads(cl(env, "doctor", "--json").stdout)
    assert report["healthy"] is True and report["model"]["loads"] is True
    assert report["gpu_offload"] in (True, False)
