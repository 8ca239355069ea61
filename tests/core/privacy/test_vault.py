"""Behaviour of tui.core.privacy.vault: age interop, wrong passphrase, tamper
detection, opaque names, permissions, and in-place conversion that survives
being interrupted at every step.

The passphrase KDF (age scrypt) takes seconds per call and pyrage offers no
work-factor knob, so a handful of tests use the real one (interop, wrong
passphrase, one full conversion) and the rest swap in a fast stand-in with
the same contract (``fast_kdf``) to test the logic around it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pyrage
import pytest
from pyrage import passphrase as age_passphrase
from pyrage import x25519

from tui.core.privacy import convert as C
from tui.core.privacy import vault as V

REPO = Path(__file__).resolve().parents[3]

# A fast stand-in for the scrypt-sealed identity file, shared with the
# subprocess crash test. It keeps the contract: the wrong passphrase raises
# WrongPassphrase, the header looks like an age scrypt file.
FAKE_KDF = textwrap.dedent(
    '''
    import hashlib as _hashlib
    from tui.core.privacy import convert as _C
    from tui.core.privacy import vault as _V

    def fake_seal(secret, passphrase):
        tag = _hashlib.sha256(passphrase.encode()).hexdigest().encode()
        return b"age-encryption.org/v1\\n-> scrypt FAKE\\n" + tag + b"\\n" + secret

    def fake_open(blob, passphrase):
        _magic, _stanza, tag, secret = blob.split(b"\\n", 3)
        if tag != _hashlib.sha256(passphrase.encode()).hexdigest().encode():
            raise _V.WrongPassphrase("wrong passphrase: the profile stays locked")
        return secret
    '''
)
_fake: dict[str, object] = {}
exec(FAKE_KDF, _fake)


@pytest.fixture
def fast_kdf(monkeypatch):
    monkeypatch.setattr(V, "_seal_secret", _fake["fake_seal"])
    monkeypatch.setattr(V, "_open_secret", _fake["fake_open"])


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` -> its bytes (None for folders)."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        out[p.relative_to(root).as_posix()] = None if p.is_dir() else p.read_bytes()
    return out


def make_plain_profile(root: Path) -> dict[str, bytes | None]:
    """A small plain profile with telling names, a big file and an empty folder."""
    (root / "chats" / "secret-rendezvous").mkdir(parents=True)
    (root / "characters" / "mira-of-the-lighthouse").mkdir(parents=True)
    (root / "kv").mkdir()
    (root / "empty-folder").mkdir()
    (root / "profile.toml").write_text('version = 1\n[persona]\nname = "Wren"\n')
    (root / "chats" / "secret-rendezvous" / "messages.jsonl").write_text(
        '{"text": "The lighthouse keeper smiled and poured the tea."}\n'
    )
    (root / "characters" / "mira-of-the-lighthouse" / "card.json").write_text(
        '{"name": "Mira", "description": "A retired sailor, 41, who keeps the light."}'
    )
    # Bigger than one age chunk (64 KiB) so streaming is exercised.
    (root / "kv" / "state.bin").write_bytes(hashlib.sha256(b"seed").digest() * 8000)
    (root / "empty.txt").write_bytes(b"")
    return snapshot(root)


def siblings(profile: Path) -> list[str]:
    return sorted(p.name for p in profile.parent.iterdir() if p.name != profile.name)


def decrypted_view(profile: Path, vault: V.Vault) -> dict[str, bytes | None]:
    """What an encrypted profile holds, in plain-profile terms."""
    out: dict[str, bytes | None] = {}
    for logical, opaque in vault.load_index(profile).items():
        if logical.endswith("/"):
            out[logical.rstrip("/")] = None
        else:
            out[logical] = vault.read(profile / V.FILES_DIR / opaque)
    return out


# --------------------------------------------------------------------------
# the real scrypt: interop and wrong passphrase


@pytest.fixture(scope="module")
def real_vault(tmp_path_factory):
    profile = tmp_path_factory.mktemp("real") / "profiles" / "alice"
    vault = V.create_vault(profile, "correct horse battery staple")
    return profile, vault


def test_file_written_by_vault_opens_with_standalone_pyrage(real_vault):
    profile, vault = real_vault
    target = vault.file_path("chats/c1/messages.jsonl")
    vault.write(target, "Rain on the harbour windows.\n")

    identity_text = age_passphrase.decrypt(
        (profile / "vault.age").read_bytes(), "correct horse battery staple"
    ).decode()
    secret = next(line for line in identity_text.splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    identity = x25519.Identity.from_str(secret)

    assert pyrage.decrypt(target.read_bytes(), [identity]) == b"Rain on the harbour windows.\n"
    assert str(identity.to_public()) == vault.recipient
    meta = (profile / "vault.toml").read_text()
    assert vault.recipient in meta


def test_age_cli_decrypts_a_vault_file(real_vault, tmp_path):
    age = shutil.which("age")
    if age is None:
        pytest.skip("the `age` command is not installed; pyrage interop is tested instead")
    profile, vault = real_vault
    target = vault.file_path("notes.txt")
    vault.write(target, b"Tea at the lighthouse.")
    # The identity file is the plain form of vault.age (what `age -d vault.age` prints).
    ident = tmp_path / "identity.txt"
    ident.write_bytes(
        age_passphrase.decrypt((profile / "vault.age").read_bytes(), "correct horse battery staple")
    )
    out = subprocess.run([age, "-d", "-i", str(ident), str(target)], capture_output=True, check=True)
    assert out.stdout == b"Tea at the lighthouse."


def test_unlock_with_right_passphrase_reads_files(real_vault):
    profile, vault = real_vault
    target = vault.file_path("profile.toml")
    vault.write(target, b"version = 1\n")
    again = V.unlock(profile, "correct horse battery staple")
    assert again.recipient == vault.recipient
    assert again.read(target) == b"version = 1\n"
    assert again.opaque_name("profile.toml") == vault.opaque_name("profile.toml")


def test_wrong_passphrase_is_clear_and_writes_nothing(real_vault):
    profile, _vault = real_vault
    before = snapshot(profile)
    mtimes = {p: p.stat().st_mtime_ns for p in profile.rglob("*")}
    with pytest.raises(V.WrongPassphrase) as info:
        V.unlock(profile, "correct horse battery stapler")
    assert str(info.value) == "wrong passphrase: the profile stays locked"
    assert "\n" not in str(info.value)
    assert snapshot(profile) == before
    assert {p: p.stat().st_mtime_ns for p in profile.rglob("*")} == mtimes


def test_real_encrypt_and_decrypt_tree_round_trip(tmp_path):
    profile = tmp_path / "profiles" / "bo"
    original = make_plain_profile(profile)

    vault = C.encrypt_tree(profile, "a long quiet evening")
    assert V.is_encrypted(profile)
    assert decrypted_view(profile, vault) == original
    # Interop on a converted file, straight from disk with standalone pyrage.
    ident_text = age_passphrase.decrypt((profile / "vault.age").read_bytes(), "a long quiet evening")
    identity = x25519.Identity.from_str(
        next(line for line in ident_text.decode().splitlines() if line.startswith("AGE-SECRET-KEY-1"))
    )
    card = profile / "files" / vault.opaque_name("characters/mira-of-the-lighthouse/card.json")
    assert pyrage.decrypt(card.read_bytes(), [identity]) == original[
        "characters/mira-of-the-lighthouse/card.json"
    ]

    C.decrypt_tree(profile, "a long quiet evening")
    assert not V.is_encrypted(profile)
    assert snapshot(profile) == original
    assert siblings(profile) == []


# --------------------------------------------------------------------------
# bytes in, bytes out


@pytest.fixture
def vault(tmp_path, fast_kdf):
    return V.create_vault(tmp_path / "profiles" / "p", "pw")


def test_encrypt_decrypt_round_trip(vault):
    for data in (b"", b"short", os.urandom(200_000)):
        blob = vault.encrypt(data)
        assert blob.startswith(b"age-encryption.org/v1\n")
        assert data == b"" or data not in blob
        assert vault.decrypt(blob) == data
    assert vault.decrypt(vault.encrypt("héllo")) == "héllo".encode()


@pytest.mark.parametrize("where", ["header", "body", "last"])
def test_one_flipped_byte_is_detected(vault, where):
    blob = bytearray(vault.encrypt(b"The harbour bell rang twice." * 100))
    header_end = blob.index(b"\n---") + 1
    index = {"header": header_end - 20, "body": header_end + 80, "last": len(blob) - 1}[where]
    blob[index] ^= 0x01
    with pytest.raises(V.TamperedFile):
        vault.decrypt(bytes(blob))


def test_truncation_at_a_chunk_boundary_is_detected_not_half_read(vault, tmp_path):
    data = os.urandom(3 * 65536 + 10)
    blob = vault.encrypt(data)
    header_end = blob.index(b"\n", blob.index(b"\n---") + 1) + 1
    cut = header_end + 16 + 2 * (65536 + 16)  # nonce, then two whole chunks
    path = tmp_path / "cut.age"
    path.write_bytes(blob[:cut])
    with pytest.raises(V.TamperedFile) as info:
        vault.read(path)
    assert "cut.age" in str(info.value)
    assert "\n" not in str(info.value)


def test_not_an_age_file_and_foreign_file(vault, tmp_path, fast_kdf):
    with pytest.raises(V.TamperedFile):
        vault.decrypt(b"just some text")
    other = V.create_vault(tmp_path / "profiles" / "q", "pw")
    with pytest.raises(V.TamperedFile):
        vault.decrypt(other.encrypt(b"not yours"))


def test_also_to_lets_a_second_profile_read(vault, tmp_path, fast_kdf):
    other = V.create_vault(tmp_path / "profiles" / "shared-partner", "pw2")
    blob = vault.encrypt(b"our scene", also_to=[other.recipient])
    assert vault.decrypt(blob) == b"our scene"
    assert other.decrypt(blob) == b"our scene"
    with pytest.raises(V.VaultError):
        vault.encrypt(b"x", also_to=["not-a-recipient"])


def test_lock_drops_the_key(vault, tmp_path):
    blob = vault.encrypt(b"x")
    vault.lock()
    assert vault.locked
    assert "AGE-SECRET" not in repr(vault)
    for call in (
        lambda: vault.decrypt(blob),
        lambda: vault.encrypt(b"y"),
        lambda: vault.opaque_name("a.txt"),
        lambda: vault.write(tmp_path / "f.age", b"y"),
    ):
        with pytest.raises(V.VaultLocked):
            call()
    assert not (tmp_path / "f.age").exists()


def test_context_manager_locks(vault):
    with vault as v:
        assert not v.locked
    assert vault.locked


# --------------------------------------------------------------------------
# names and the index


def test_opaque_names_are_keyed_deterministic_and_reveal_nothing(vault, tmp_path, fast_kdf):
    name = vault.opaque_name("chats/secret-rendezvous/messages.jsonl")
    assert re.fullmatch(r"[0-9a-f]{32}\.age", name)
    assert vault.opaque_name("chats/secret-rendezvous/messages.jsonl") == name
    assert vault.opaque_name(Path("chats/secret-rendezvous/messages.jsonl")) == name
    assert vault.opaque_name("chats/secret-rendezvous/chat.toml") != name
    # Keyed: the same path gets a different name in another profile.
    other = V.create_vault(tmp_path / "profiles" / "q", "pw")
    assert other.opaque_name("chats/secret-rendezvous/messages.jsonl") != name
    # Not a plain hash of the path.
    assert hashlib.sha256(b"chats/secret-rendezvous/messages.jsonl").hexdigest()[:32] != name[:32]
    for bad in ("../escape", "/abs/path", "", "a/../b"):
        with pytest.raises(V.VaultError):
            vault.opaque_name(bad)


def test_index_round_trip_is_encrypted(vault, tmp_path):
    mapping = {
        "chats/secret-rendezvous/messages.jsonl": vault.opaque_name("chats/secret-rendezvous/messages.jsonl"),
        "empty-folder/": "",
    }
    vault.save_index(tmp_path, mapping)
    raw = (tmp_path / "index.age").read_bytes()
    assert b"secret-rendezvous" not in raw
    assert vault.load_index(tmp_path) == mapping
    assert vault.load_index(tmp_path / "nowhere") == {}
    with pytest.raises(V.VaultError):
        vault.save_index(tmp_path, {"a.txt": "../../etc/passwd"})


# --------------------------------------------------------------------------
# permissions and profile state


def test_permissions_are_private(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    make_plain_profile(profile)
    os.chmod(profile / "profile.toml", 0o644)
    vault = C.encrypt_tree(profile, "pw")
    vault.write(vault.file_path("later.txt"), b"later")
    assert mode(profile) == 0o700
    for p in profile.rglob("*"):
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    C.decrypt_tree(profile, "pw")
    assert mode(profile) == 0o700
    for p in profile.rglob("*"):
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p


def test_encrypted_tree_names_reveal_nothing(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    vault = C.encrypt_tree(profile, "pw")
    top = sorted(p.name for p in profile.iterdir())
    assert top == ["files", "index.age", "vault.age", "vault.toml"]
    names = [p.name for p in (profile / "files").iterdir()]
    assert len(names) == sum(1 for v in original.values() if v is not None)
    assert all(re.fullmatch(r"[0-9a-f]{32}\.age", n) for n in names)
    every_byte = b"".join(p.read_bytes() for p in profile.rglob("*") if p.is_file())
    for telling in (b"secret-rendezvous", b"lighthouse", b"Mira", b"Wren", b"profile.toml"):
        assert telling not in every_byte
    assert decrypted_view(profile, vault) == original


def test_create_twice_and_state_errors(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    assert not V.is_encrypted(profile)
    with pytest.raises(V.NotEncrypted):
        V.unlock(profile, "pw")
    V.create_vault(profile, "pw")
    assert V.is_encrypted(profile)
    with pytest.raises(V.AlreadyEncrypted):
        V.create_vault(profile, "pw")
    with pytest.raises(V.AlreadyEncrypted):
        C.encrypt_tree(profile, "pw")
    with pytest.raises(V.VaultError, match="empty"):
        V.unlock(profile, "")
    plain = tmp_path / "profiles" / "plain"
    plain.mkdir()
    with pytest.raises(V.NotEncrypted):
        C.decrypt_tree(plain, "pw")
    with pytest.raises(V.VaultError, match="no profile folder"):
        C.encrypt_tree(tmp_path / "profiles" / "ghost", "pw")


def test_newer_or_mismatched_key_files_are_refused(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    V.create_vault(profile, "pw")
    meta = (profile / "vault.toml").read_text()
    (profile / "vault.toml").write_text(meta.replace("version = 1", "version = 99"))
    with pytest.raises(V.VaultError, match="newer"):
        V.unlock(profile, "pw")
    other = tmp_path / "profiles" / "q"
    V.create_vault(other, "pw")
    (profile / "vault.toml").write_text((other / "vault.toml").read_text())
    with pytest.raises(V.VaultError, match="do not belong together"):
        V.unlock(profile, "pw")
    (profile / "vault.age").unlink()
    with pytest.raises(V.VaultError, match="missing"):
        V.unlock(profile, "pw")


def test_change_passphrase_keeps_the_key(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    vault = V.create_vault(profile, "old pass")
    target = vault.file_path("a.txt")
    vault.write(target, b"kept")
    key_before = (profile / "vault.age").read_bytes()
    with pytest.raises(V.WrongPassphrase):
        V.change_passphrase(profile, "not it", "new pass")
    assert (profile / "vault.age").read_bytes() == key_before

    V.change_passphrase(profile, "old pass", "new pass")
    with pytest.raises(V.WrongPassphrase):
        V.unlock(profile, "old pass")
    again = V.unlock(profile, "new pass")
    assert again.recipient == vault.recipient
    assert again.read(target) == b"kept"


def test_symlink_in_profile_is_refused_before_any_change(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    (tmp_path / "outside.txt").write_text("elsewhere")
    os.symlink(tmp_path / "outside.txt", profile / "link.txt")
    with pytest.raises(V.VaultError, match="symbolic link"):
        C.encrypt_tree(profile, "pw")
    (profile / "link.txt").unlink()
    assert snapshot(profile) == original
    assert siblings(profile) == []


def test_decrypt_tree_with_wrong_passphrase_or_tampered_file_changes_nothing(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    make_plain_profile(profile)
    vault = C.encrypt_tree(profile, "pw")
    encrypted = snapshot(profile)
    with pytest.raises(V.WrongPassphrase):
        C.decrypt_tree(profile, "nope")
    assert snapshot(profile) == encrypted

    victim = vault.file_path("kv/state.bin")
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    victim.write_bytes(bytes(blob))
    tampered = snapshot(profile)
    with pytest.raises(V.TamperedFile, match="kv/state.bin"):
        C.decrypt_tree(profile, "pw")
    assert snapshot(profile) == tampered
    assert siblings(profile) == []


def test_decrypt_tree_keeps_unindexed_and_plain_extras(tmp_path, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    vault = C.encrypt_tree(profile, "pw")
    stray = vault.file_path("notes/written-after.txt")
    vault.write(stray, b"not yet in the index")
    (profile / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    C.decrypt_tree(profile, "pw")
    after = snapshot(profile)
    assert after[f"unindexed/{stray.name[:-4]}"] == b"not yet in the index"
    assert after["CACHEDIR.TAG"].startswith(b"Signature:")
    for rel, data in original.items():
        assert after[rel] == data


# --------------------------------------------------------------------------
# interrupted conversions


class Crash(BaseException):
    """Stands for the process dying at a checkpoint."""


def crash_at(monkeypatch, step: str) -> None:
    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash(step)

    monkeypatch.setattr(C, "_checkpoint", checkpoint)


@pytest.mark.parametrize("step", ["staged", "old-moved", "swapped"])
def test_encrypt_tree_interrupted_then_recovered_loses_nothing(tmp_path, monkeypatch, fast_kdf, step):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        C.encrypt_tree(profile, "pw")
    assert siblings(profile)  # the crash left swap folders behind
    monkeypatch.setattr(C, "_checkpoint", lambda name: None)

    assert C.recover(profile)
    assert siblings(profile) == []
    if step == "staged":
        assert snapshot(profile) == original  # swap never began: still plain
    else:
        assert V.is_encrypted(profile)
        assert decrypted_view(profile, V.unlock(profile, "pw")) == original
    assert C.recover(profile) is None


@pytest.mark.parametrize("step", ["staged", "old-moved", "swapped"])
def test_decrypt_tree_interrupted_then_recovered_loses_nothing(tmp_path, monkeypatch, fast_kdf, step):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    C.encrypt_tree(profile, "pw")
    encrypted = snapshot(profile)
    crash_at(monkeypatch, step)
    with pytest.raises(Crash):
        C.decrypt_tree(profile, "pw")
    monkeypatch.setattr(C, "_checkpoint", lambda name: None)

    # The next conversion recovers first, whichever state it finds.
    assert C.recover(profile)
    if step == "staged":
        assert snapshot(profile) == encrypted
    else:
        assert snapshot(profile) == original
    assert siblings(profile) == []


def test_error_while_staging_cleans_up_and_keeps_original(tmp_path, monkeypatch, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    calls = []

    def checkpoint(name: str) -> None:
        calls.append(name)
        if name == "file" and len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(C, "_checkpoint", checkpoint)
    with pytest.raises(OSError):
        C.encrypt_tree(profile, "pw")
    assert snapshot(profile) == original
    assert siblings(profile) == []


def test_crash_while_deleting_the_old_form_is_finished_by_recover(tmp_path, monkeypatch, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    real_remove = C._remove_tree

    def dies_in_trash(path: Path) -> None:
        if ".trash-" in path.name:
            # Delete part of it, then "die".
            next(p for p in path.rglob("*") if p.is_file()).unlink()
            raise Crash("rmtree")
        real_remove(path)

    monkeypatch.setattr(C, "_remove_tree", dies_in_trash)
    with pytest.raises(Crash):
        C.encrypt_tree(profile, "pw")
    monkeypatch.setattr(C, "_remove_tree", real_remove)
    assert any(".trash-" in n for n in siblings(profile))
    C.recover(profile)
    assert siblings(profile) == []
    assert decrypted_view(profile, V.unlock(profile, "pw")) == original


def test_recover_leaves_an_ambiguous_state_alone(tmp_path):
    profile = tmp_path / "profiles" / "p"
    profile.mkdir(parents=True)
    (profile / "a.txt").write_text("current")
    stamp = "20240101T000000Z-abcdef"
    new = profile.parent / f".p.new-{stamp}"
    old = profile.parent / f".p.old-{stamp}"
    for d in (new, old):
        d.mkdir()
        (d / "a.txt").write_text(d.name)
    message = C.recover(profile)
    assert message and "left" in message
    assert new.exists() and old.exists()
    # An old form of the same kind as the profile is not a finished swap either.
    shutil.rmtree(new)
    C.recover(profile)
    assert old.exists()


def test_killed_process_mid_staging_is_recovered(tmp_path):
    """A real kill (os._exit, no cleanup) while files are being staged."""
    profile = tmp_path / "profiles" / "p"
    original = make_plain_profile(profile)
    script = FAKE_KDF + textwrap.dedent(
        f'''
        import os, sys
        _V._seal_secret = fake_seal
        _V._open_secret = fake_open
        count = [0]
        def checkpoint(name):
            if name == "file":
                count[0] += 1
                if count[0] == 2:
                    os._exit(9)
        _C._checkpoint = checkpoint
        _C.encrypt_tree({str(profile)!r}, "pw")
        '''
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True)
    assert proc.returncode == 9, proc.stderr.decode()
    leftovers = siblings(profile)
    assert len(leftovers) == 1 and ".new-" in leftovers[0]
    assert snapshot(profile) == original
    assert C.recover(profile) == "discarded an unfinished conversion"
    assert siblings(profile) == []
    assert snapshot(profile) == original


# --------------------------------------------------------------------------
# crypto-shredding


def test_crypto_shred_overwrites_the_key_then_removes_everything(tmp_path, monkeypatch, fast_kdf):
    profile = tmp_path / "profiles" / "p"
    make_plain_profile(profile)
    C.encrypt_tree(profile, "pw")
    key_before = (profile / "vault.age").read_bytes()
    leftover = profile.parent / ".p.old-20240101T000000Z-abcdef"
    leftover.mkdir()
    (leftover / "vault.age").write_bytes(key_before)
    (tmp_path / "profiles" / "other").mkdir()

    seen: dict[str, bytes] = {}
    real_unlink = os.unlink

    def spy(path, *args, **kwargs):
        p = Path(path)
        if p.name == "vault.age":
            seen[str(p)] = p.read_bytes()
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", spy)
    assert C.crypto_shred(profile) is True
    monkeypatch.setattr(os, "unlink", real_unlink)

    assert not profile.exists() and not leftover.exists()
    assert (tmp_path / "profiles" / "other").is_dir()
    assert len(seen) == 2
    for content in seen.values():
        assert len(content) == len(key_before) and content != key_before
        assert b"age-encryption.org" not in content
    assert C.crypto_shred(profile) is False
