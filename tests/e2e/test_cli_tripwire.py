"""Real names for the tripwire live in the profile (encrypted with it), not in
the plain config: `candlelit tripwire add/remove/list`, and the app uses them."""

from __future__ import annotations

import json
import subprocess
import sys

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.privacy import vault as V
from tui.core.profile.workspace import Workspace


def cli(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True,
                          timeout=120, input=stdin)


def test_names_are_kept_in_the_profile_never_in_plain_files(cli_env, home, tmp_path):
    assert cli(cli_env, "tripwire", "add", "Jane Roe").returncode == 0
    assert cli(cli_env, "tripwire", "add", "-", stdin="Max Mustermann\n").returncode == 0  # out of shell history
    listed = json.loads(cli(cli_env, "tripwire", "list", "--json").stdout)
    assert listed == {"names": ["Jane Roe", "Max Mustermann"]}
    assert cli(cli_env, "tripwire", "remove", "jane roe").returncode == 0
    missing = cli(cli_env, "tripwire", "remove", "Nobody")
    assert missing.returncode == 2 and "not in this profile's tripwire list" in missing.stderr
    ws = Workspace(paths.resolve(), Config())
    assert ws.tripwire_names() == ("Max Mustermann",)
    with_config = Workspace(paths.resolve(), replace(Config(), privacy={"deny_names": ("Erika",)}))
    assert with_config.tripwire_names() == ("Erika", "Max Mustermann")

    # an encrypted profile keeps them encrypted: no plain file anywhere names them
    made = cli(cli_env, "profile", "create", "sec", "--encrypted", "--passphrase-stdin",
               stdin="lantern juniper quarry velvet orbit\n")
    assert made.returncode == 0, made.stderr
    added = cli(cli_env, "--profile", "sec", "--passphrase-stdin", "tripwire", "add", "Rosa Secretname",
                stdin="lantern juniper quarry velvet orbit\n")
    assert added.returncode == 0, added.stderr
    for path in home.rglob("*"):
        if path.is_file():
            assert b"Secretname" not in path.read_bytes(), path
    sec = V.unlock(paths.resolve().profile("sec"), "lantern juniper quarry velvet orbit")
    ws_sec = Workspace(paths.resolve(), replace(Config(), chat={"profile": "sec"}), vault=sec)
    assert ws_sec.tripwire_names() == ("Rosa Secretname",)
