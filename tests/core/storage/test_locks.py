"""Two processes on one profile: conversions are refused while another
process has it open, and concurrent writers lose nothing (real processes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.profile import profiles as P
from tui.core.profile.workspace import Workspace
from tui.core.storage.locks import ProfileBusy, exclusive_profile, hold_profile, lock_path
from tui.core.storage.model import Message

HOLDER = (
    "import sys, time\n"
    "from tui.core import paths\n"
    "from tui.core.storage.locks import hold_profile\n"
    "h = hold_profile(paths.resolve().profile(sys.argv[1]))\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # until the test closes stdin
)


def holder(name: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def stop(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(30)


def test_conversions_rename_and_delete_are_refused_while_another_process_holds_it(home, fast_kdf):
    p = paths.resolve()
    P.create_profile(p, "Rosa")
    P.create_profile(p, "Other")
    proc = holder("Rosa")
    try:
        with pytest.raises(ProfileBusy, match="open in another Candlelit process"):
            P.encrypt_profile(p, "Rosa", "a long passphrase")
        with pytest.raises(ProfileBusy):
            P.rename_profile(p, "Rosa", "Rose")
        with pytest.raises(ProfileBusy):
            P.delete_profile(p, "Rosa")
        assert P.profile_info(p, "Rosa").encrypted is False and p.profile("Rosa").is_dir()
        P.encrypt_profile(p, "Other", "a long passphrase")  # another profile is free
    finally:
        stop(proc)
    P.encrypt_profile(p, "Rosa", "a long passphrase")  # free again once the process is gone
    assert P.profile_info(p, "Rosa").encrypted
    assert oct(lock_path(p.profile("Rosa")).stat().st_mode & 0o777) == "0o600"


def test_a_killed_holder_leaves_no_stale_lock(home):
    p = paths.resolve()
    P.create_profile(p, "Rosa")
    proc = holder("Rosa")
    proc.kill()
    proc.wait(30)
    with exclusive_profile(p.profile("Rosa")):
        pass


def test_the_holding_process_may_convert_its_own_profile(home, fast_kdf):
    p = paths.resolve()
    P.create_profile(p, "Rosa")
    with hold_profile(p.profile("Rosa")):
        P.encrypt_profile(p, "Rosa", "a long passphrase")
        proc = subprocess.run(  # still held shared: another process is refused
            [sys.executable, "-c",
             "import sys\nfrom tui.core import paths\nfrom tui.core.storage.locks import exclusive_profile\n"
             "try:\n    exclusive_profile(paths.resolve().profile('Rosa')).__enter__()\n"
             "except Exception as e:\n    print(type(e).__name__)\n"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.stdout.strip() == "ProfileBusy"


WRITER = (
    "import sys\n"
    "from tui.core import paths\n"
    "from tui.core.config.load import replace\n"
    "from tui.core.config.schema import Config\n"
    "from tui.core.privacy.vault import unlock\n"
    "from tui.core.profile.workspace import Workspace\n"
    "from tui.core.storage.model import Message\n"
    "p = paths.resolve()\n"
    "name, chat, who, n, pw = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]\n"
    "cfg = replace(Config(), chat={'profile': name})\n"
    "vault = unlock(p.profile(name), pw) if pw else None\n"
    "ws = Workspace(p, cfg, vault=vault)\n"
    "first = next(m.id for m in ws.store.messages(chat)[0] if m.text == 'the first line')\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"

    "for i in range(n):\n"
    "    if who == 'edit':  # a read-modify-write of the whole file, racing the appends\n"
    "        ws.store.edit_message(chat, first, f'edited {i}')\n"
    "    else:\n"
    "        ws.store.append(chat, Message.new(who, 'user', f'{who} {i}'))\n"
    "print('done', flush=True)\n"
)


@pytest.mark.parametrize("encrypted", [False, True])
def test_appends_and_edits_from_two_processes_lose_nothing(home, encrypted):
    p = paths.resolve()
    pw = "a long passphrase for the test" if encrypted else ""
    P.create_profile(p, "Rosa", passphrase=pw or None)
    cfg = replace(Config(), chat={"profile": "Rosa"})
    from tui.core.privacy.vault import unlock

    ws = Workspace(p, cfg, vault=unlock(p.profile("Rosa"), pw) if pw else None)
    ws.install_starters()
    chat = ws.new_chat("mara")
    ws.store.append(chat.id, Message.new("Sam", "user", "the first line"))
    n = 150
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, "Rosa", chat.id, who, str(n), pw],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for who in ("Ana", "edit")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:  # both start at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "done"
        proc.wait(60)
    fresh = Workspace(p, cfg, vault=unlock(p.profile("Rosa"), pw) if pw else None)
    msgs, report = fresh.store.messages(chat.id)
    texts = [m.text for m in msgs if m.role == "user"]
    assert not report.torn
    assert [t for t in texts if t.startswith("Ana")] == [f"Ana {i}" for i in range(n)]
    assert texts[0] == f"edited {n - 1}"


def test_the_cli_refuses_a_conversion_with_one_line_while_the_profile_is_open(cli_env, home):
    p = paths.resolve()
    P.create_profile(p, "Rosa")
    proc = holder("Rosa")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tui", "profile", "encrypt", "Rosa", "--passphrase-stdin"],
            input="lantern juniper quarry velvet orbit\n", env=cli_env, capture_output=True, text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        assert "profile 'Rosa' is open in another Candlelit process" in out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        gone = subprocess.run([sys.executable, "-m", "tui", "profile", "delete", "Rosa", "--yes"],
                              env=cli_env, capture_output=True, text=True, timeout=120)
        assert gone.returncode == 2 and p.profile("Rosa").is_dir()
    finally:
        stop(proc)
    assert not P.profile_info(p, "Rosa").encrypted
