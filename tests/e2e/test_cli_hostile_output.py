"""What the CLI prints reaches the terminal as text: card, lore and chat text
with escape sequences (OSC 52 clipboard, clear screen, titles, links, C1
controls, bidi overrides) is neutralized in every human-readable output; JSON
stays lossless; bugs print one line and no chat text; bad Unicode is one line."""

from __future__ import annotations

import json
import subprocess
import sys

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

OSC52 = "\x1b]52;c;aGVsbG8=\x07"
CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;http://example.invalid\x07click\x1b]8;;\x07"
C1 = "\x9b31m"
RLO = "\u202e"
HOSTILE = [OSC52, CLEAR, TITLE, LINK, C1, RLO]
NAME = f"Lyra{OSC52}{RLO}evil"


def cli(env, *args, stdin: str | None = None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True,
        timeout=timeout, input=stdin,
    )


def clean(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and RLO not in out, repr(out[:300])


def hostile_card(tmp_path) -> str:
    card = {
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {
            "name": NAME, "description": f"An adult keeper. {CLEAR}{C1}{LINK}",
            "first_mes": f"Hello {TITLE} there",
        },
    }
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return str(path)


def test_card_lore_chat_and_prompt_output_is_neutralized(cli_env, home, tmp_path):
    imported = cli(cli_env, "card", "import", hostile_card(tmp_path))
    assert imported.returncode == 0, imported.stderr
    slug = imported.stdout.strip()
    for args in (("card", "list"), ("card", "show", slug)):
        out = cli(cli_env, *args)
        assert out.returncode == 0, out.stderr
        clean(out.stdout)
        assert "Lyra\u241b]52;c;aGVsbG8=\u2407\u2395evil" in out.stdout  # visible, not obeyed
    book = {"name": f"Atlas{TITLE}", "entries": {"0": {"key": ["x"], "content": f"lore {OSC52}"}}}
    (tmp_path / "book.json").write_text(json.dumps(book), encoding="utf-8")
    assert cli(cli_env, "lore", "import", str(tmp_path / "book.json")).returncode == 0
    out = cli(cli_env, "lore", "list")
    clean(out.stdout)
    assert "Atlas\u241b]0;pwned\u2407" in out.stdout

    chat_id = cli(cli_env, "chat", "new", "--character", slug).stdout.strip()
    ws = Workspace(paths.resolve(), Config())
    reply = "".join(HOSTILE) + " the end"
    ws.store.append(chat_id, Message.new(NAME, "assistant", reply))
    out = cli(cli_env, "chat", "show", chat_id)
    assert out.returncode == 0, out.stderr
    clean(out.stdout)
    assert "the end" in out.stdout
    shown = cli(cli_env, "chat", "show", chat_id, "--json")
    clean(shown.stdout)  # escaped in the JSON text...
    data = json.loads(shown.stdout)
    msgs = data["messages"] if isinstance(data, dict) else data
    assert msgs[-1]["text"] == reply  # ...and the same data once parsed
    out = cli(cli_env, "prompt", chat_id)
    assert out.returncode == 0, out.stderr
    clean(out.stdout + out.stderr)


def test_global_options_work_after_the_command(cli_env, home):
    assert cli(cli_env, "profile", "create", "Rosa").returncode == 0
    chat_id = cli(cli_env, "chat", "new", "--character", "mara", "--profile", "Rosa").stdout.strip()
    assert chat_id
    listed = cli(cli_env, "chat", "list", "--profile", "Rosa")
    assert chat_id in listed.stdout
    assert chat_id not in cli(cli_env, "chat", "list").stdout  # the default profile has none
    assert chat_id in cli(cli_env, "--profile", "Rosa", "chat", "show", chat_id).stdout
    missing = cli(cli_env, "chat", "list", "--profile", "Nope")
    assert missing.returncode == 2 and "no profile named 'Nope'" in missing.stderr
    # a command's own option of the same name stays its own
    made = cli(cli_env, "profile", "create", "Enc", "--encrypted", "--passphrase-stdin", stdin="a long passphrase 42\n")
    assert made.returncode == 0, made.stderr


def test_bad_unicode_in_files_and_arguments_is_one_line(cli_env, home, tmp_path):
    (tmp_path / "lore.json").write_text('{"entries": {"0": {"key": ["x"], "content": "bad \\ud800 here"}}}')
    out = cli(cli_env, "lore", "import", str(tmp_path / "lore.json"))
    assert out.returncode == 2 and "not valid Unicode" in out.stderr and "Traceback" not in out.stderr
    raw = subprocess.run(
        [sys.executable.encode(), b"-m", b"tui", b"persona", b"add", b"Zed", b"--description", b"caf\xe9"],
        env=cli_env, capture_output=True, timeout=120,
    )
    assert raw.returncode == 2 and b"not valid Unicode" in raw.stderr and b"Traceback" not in raw.stderr


def test_a_bug_prints_one_line_without_chat_text(cli_env, home):
    code = (
        "import sys, tui.cli.main as m\n"
        "def boom(args):\n"
        "    raise RuntimeError('the secret words of a chat')\n"
        "m._dispatch = boom\n"
        "sys.exit(m.main(['chat', 'list']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 70
    assert "secret" not in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "internal error (RuntimeError" in out.stderr
    debug = subprocess.run(
        [sys.executable, "-c", code], env={**cli_env, "CANDLELIT_DEBUG": "1"}, capture_output=True, text=True,
        timeout=60,
    )
    assert "Traceback" in debug.stderr and "secret" in debug.stderr
