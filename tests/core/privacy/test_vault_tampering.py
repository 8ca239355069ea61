"""Tampering with an encrypted profile's plain files never makes it plain."""

from __future__ import annotations

import pytest

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.privacy import vault as V
from tui.core.profile import profiles as P
from tui.core.profile.workspace import Workspace


def test_a_deleted_vault_toml_keeps_the_profile_encrypted_and_locked(home, fast_kdf):
    p = paths.resolve()
    P.create_profile(p, "sec", passphrase="a long passphrase")
    folder = p.profile("sec")
    before = sorted(x.name for x in folder.rglob("*"))
    (folder / V.META_FILE).unlink()
    assert V.is_encrypted(folder)
    ws = Workspace(p, replace(Config(), chat={"profile": "sec"}))
    assert ws.encrypted  # not taken for a plain profile
    with pytest.raises(V.VaultError, match="vault.toml is missing.*holds encrypted files"):
        V.unlock(folder, "a long passphrase")
    assert sorted(x.name for x in folder.rglob("*")) == [n for n in before if n != V.META_FILE]
    assert P.profile_info(p, "sec").encrypted


def test_each_decrypt_failure_says_what_it_is(home):
    from pyrage import passphrase as age_passphrase

    blob = age_passphrase.encrypt(b"AGE-SECRET-KEY-1", "right")
    with pytest.raises(V.WrongPassphrase, match="wrong passphrase"):
        V._open_secret(blob, "wrong")
    head, stanza, rest = blob.split(b"\n", 2)
    greedy = head + b"\n" + b" ".join(stanza.split(b" ")[:-1] + [b"30"]) + b"\n" + rest
    with pytest.raises(V.VaultError, match="more scrypt work than this machine allows") as exc:
        V._open_secret(greedy, "right")
    assert not isinstance(exc.value, V.WrongPassphrase)
    with pytest.raises(V.TamperedFile, match="damaged or cut short"):
        V._open_secret(blob[:40], "right")
