"""Profiles (tui.core.profile.profiles): names, create/rename/delete, isolation,
deletion that leaves nothing behind, per-profile reminders; and the
[privacy] config section."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tui.core import paths as paths_mod
from tui.core.cards.library import delete_character, import_card_file
from tui.core.config.load import ConfigError, load_config_text, replace
from tui.core.config.schema import Config
from tui.core.config.state import load_state, save_state
from tui.core.memory import kv_state
from tui.core.memory.document import Fact, Memory, save_memory
from tui.core.privacy import convert as C
from tui.core.privacy import vault as V
from tui.core.profile import profiles as P
from tui.core.profile.usage_stats import ReminderSettings
from tui.core.profile.workspace import Workspace
from tui.core.storage.errors import StoreError
from tui.core.storage.model import Message


@pytest.fixture
def paths(home):
    return paths_mod.resolve()


def ws_for(paths, name: str) -> Workspace:
    return Workspace(paths, replace(Config(), chat={"profile": name}))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def mentions(root: Path, needle: str) -> list[Path]:
    """Every path under ``root`` whose name or bytes contain ``needle``."""
    hits = []
    raw = needle.encode()
    for p in root.rglob("*"):
        if needle in p.name or (p.is_file() and raw in p.read_bytes()):
            hits.append(p)
    return hits


class FakeKVEngine:
    """Enough of an engine for kv_state.save: hands over a state blob."""

    def state_blob(self) -> bytes:
        return b"KVSTATE" * 100

    def state_size(self) -> int:
        return 700

    def cache_key(self) -> str:
        return "fake-key"

    def cached_tokens(self) -> list[int]:
        return [1, 2, 3]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x/y", ".hidden", "é", "x" * 65, None, 3])
def test_invalid_names_are_refused(bad):
    with pytest.raises(P.InvalidProfileName, match="letters, digits"):
        P.check_name(bad)


@pytest.mark.parametrize("good", ["a", "Alex", "sam_2", "our-scenes", "x" * 64])
def test_valid_names(good):
    assert P.check_name(good) == good


# ---------------------------------------------------------------- create, list, rename


def test_create_and_list(paths):
    assert P.list_profiles(paths) == []
    P.create_profile(paths, "alex")
    P.create_profile(paths, "us", shared=True)
    infos = {i.name: i for i in P.list_profiles(paths)}
    assert set(infos) == {"alex", "us"}
    assert infos["us"].shared and not infos["alex"].shared
    assert not infos["alex"].encrypted
    folder = paths.profile("alex")
    assert mode(folder) == 0o700 and mode(folder / "profile.toml") == 0o600
    assert "shared = true" in (paths.profile("us") / "profile.toml").read_text()


def test_list_skips_hidden_and_odd_entries(paths):
    P.create_profile(paths, "alex")
    (paths.profiles / ".deleted-old-abc123").mkdir()
    (paths.profiles / "not a name").mkdir()
    (paths.profiles / "stray.txt").write_text("x")
    assert [i.name for i in P.list_profiles(paths)] == ["alex"]


def test_create_twice_is_refused(paths):
    P.create_profile(paths, "alex")
    with pytest.raises(P.ProfileExists, match="already exists"):
        P.create_profile(paths, "alex")


def test_create_leaves_no_staging_folder_on_failure(paths, monkeypatch):
    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(P, "_write_profile_toml", boom)
    with pytest.raises(OSError):
        P.create_profile(paths, "alex")
    assert [p.name for p in paths.profiles.iterdir()] == []


def test_create_encrypted_profile_has_a_key(paths, fast_kdf):
    info = P.create_profile(paths, "sec", passphrase="pass phrase")
    assert info.encrypted
    assert (info.path / V.KEY_FILE).is_file() and (info.path / V.META_FILE).is_file()
    V.unlock(info.path, "pass phrase").lock()
    with pytest.raises(V.WrongPassphrase):
        V.unlock(info.path, "nope")


def test_counts(paths):
    w = ws_for(paths, "alex")
    w.new_chat("mara")
    w.new_chat("vesper")
    info = P.profile_info(paths, "alex")
    assert info.chats == 2 and info.characters == 3  # the three starters


def test_rename_moves_everything_and_updates_state(paths):
    w = ws_for(paths, "alex")
    chat = w.new_chat("mara")
    save_state(paths.state_file, {"profile": "alex", "last_chat": chat.id})
    P.rename_profile(paths, "alex", "alexa")
    assert not paths.profile("alex").exists()
    assert ws_for(paths, "alexa").store.chat(chat.id).title
    assert load_state(paths.state_file) == {"profile": "alexa", "last_chat": chat.id}


def test_rename_refusals(paths):
    P.create_profile(paths, "a")
    P.create_profile(paths, "b")
    with pytest.raises(P.ProfileExists):
        P.rename_profile(paths, "a", "b")
    with pytest.raises(P.ProfileNotFound):
        P.rename_profile(paths, "zzz", "c")
    with pytest.raises(P.InvalidProfileName):
        P.rename_profile(paths, "a", "no good")
    assert paths.profile("a").is_dir() and paths.profile("b").is_dir()


def test_set_shared_keeps_other_settings(paths):
    w = ws_for(paths, "us")
    w.install_starters()
    before = w.store.load_profile()
    P.set_shared(paths, "us", True)
    after = w.store.load_profile()
    assert after["shared"] is True
    assert after["starters_installed"] == before["starters_installed"]
    w.install_starters()  # the app's own writes keep the flag
    assert P.profile_info(paths, "us").shared


# ---------------------------------------------------------------- isolation


def test_nothing_of_one_profile_shows_in_another(paths, tmp_path):
    alex = ws_for(paths, "alex")
    card = tmp_path / "juniper.json"
    card.write_text(json.dumps({
        "spec": "chara_card_v3", "spec_version": "3.0",
        "data": {"name": "Juniper Vale", "description": "A 41-year-old lighthouse keeper.", "first_mes": "Hello."},
    }))
    slug = import_card_file(alex.store, card).slug
    chat = alex.new_chat(slug, title="Storm at the lighthouse")
    alex.store.append(chat.id, Message.new("User", "user", "UNIQUE-ALEX-LINE about the storm"))
    book = tmp_path / "book.json"
    book.write_text(json.dumps({"name": "Harbour lore", "entries": [{"keys": ["harbour"], "content": "Fog."}]}))
    alex.import_lorebook(book)

    sam = ws_for(paths, "sam")
    assert sam.store.list_chats() == []
    assert slug not in {e.slug for e in sam.cards()}
    assert sam.standalone_books() == []
    with pytest.raises(Exception, match="no chat"):
        sam.store.chat(chat.id)
    sam_root = paths.profile("sam")
    for needle in ("UNIQUE-ALEX-LINE", "Juniper", chat.id, "Harbour"):
        assert mentions(sam_root, needle) == []


# ---------------------------------------------------------------- deletion


def test_deleting_a_chat_removes_kv_state_memory_and_everything(paths):
    w = ws_for(paths, "alex")
    chat = w.new_chat("mara")
    w.store.append(chat.id, Message.new("User", "user", "SECRET-CHAT-LINE"))
    folder = w.store.chat_dir(chat.id)
    assert kv_state.save(FakeKVEngine(), folder, 10**6) > 0
    save_memory(folder, Memory(summary="SECRET-SUMMARY", facts=[Fact("a fact")]))
    (folder / "messages.jsonl.torn-20240101T000000Z").write_bytes(b"SECRET-TORN")
    assert (folder / "kv" / "state.bin").is_file() and (folder / "memory.md").is_file()

    w.store.delete_chat(chat.id)
    for needle in (chat.id, "SECRET-CHAT-LINE", "SECRET-SUMMARY", "SECRET-TORN", "KVSTATE"):
        assert mentions(paths.home, needle) == [], needle
    assert [p.name for p in w.store.chats_dir.iterdir()] == []


def test_deleting_in_an_encrypted_profile_removes_the_encrypted_files(paths, fast_kdf, tmp_path):
    import pyrage

    P.create_profile(paths, "sec", passphrase="pw")
    key = V.unlock(paths.profile("sec"), "pw")
    w = Workspace(paths, replace(Config(), chat={"profile": "sec"}), vault=key)
    chat = w.new_chat("mara")
    w.store.append(chat.id, Message.new("User", "user", "SECRET-CHAT-LINE"))
    folder = w.store.chat_dir(chat.id)
    assert kv_state.save(FakeKVEngine(), folder, 10**6) > 0
    save_memory(folder, Memory(summary="SECRET-SUMMARY"))
    card = tmp_path / "orrin.json"
    card.write_text(json.dumps({"spec": "chara_card_v3", "spec_version": "3.0", "data": {
        "name": "Orrin Thale", "description": "A 52-year-old ORRIN-MARK clockmaker.", "first_mes": "Hi."}}))
    slug = import_card_file(w.store, card).slug
    files = paths.profile("sec") / "files"
    before = {p.name for p in files.iterdir()}

    w.store.delete_chat(chat.id)
    delete_character(w.store, slug)
    after = {p.name for p in files.iterdir()}
    assert len(before - after) >= 6  # chat.toml, messages, state.bin, state.toml, memory.md, card, original
    assert not after - before
    assert set(w.sealed.logical_files().values()) == after  # the index names exactly what is left
    identity = key._key()
    for name in after:  # nothing left, decrypted, mentions what was deleted
        text = pyrage.decrypt((files / name).read_bytes(), [identity])
        for needle in (b"SECRET-CHAT-LINE", b"SECRET-SUMMARY", b"KVSTATE", b"ORRIN-MARK", chat.id.encode()):
            assert needle not in text, needle
    assert not any(k.startswith(f"chats/{chat.id}") for k in w.sealed.logical_files())


def test_deleting_a_character_removes_its_files(paths, tmp_path):
    w = ws_for(paths, "alex")
    card = tmp_path / "orrin.json"
    card.write_text(json.dumps({
        "spec": "chara_card_v3", "spec_version": "3.0",
        "data": {"name": "Orrin Thale", "description": "A 52-year-old ORRIN-MARK clockmaker.", "first_mes": "Hi."},
    }))
    slug = import_card_file(w.store, card).slug
    folder = w.store.character_dir(slug)
    assert (folder / "card.json").is_file()
    delete_character(w.store, slug)
    assert not folder.exists()
    assert mentions(w.store.characters_dir, "ORRIN-MARK") == []
    assert [p for p in w.store.characters_dir.iterdir() if slug in p.name] == []


def test_deleting_a_profile_removes_every_file_of_it(paths):
    alex = ws_for(paths, "alex")
    chat = alex.new_chat("mara")
    alex.store.append(chat.id, Message.new("User", "user", "ALEX-ONLY-TEXT"))
    kv_state.save(FakeKVEngine(), alex.store.chat_dir(chat.id), 10**6)
    save_memory(alex.store.chat_dir(chat.id), Memory(summary="ALEX-SUMMARY"))
    P.usage_file(alex.store.root).write_text('{"v":1}\n')
    sam = ws_for(paths, "sam")
    sam_chat = sam.new_chat("vesper")
    save_state(paths.state_file, {"profile": "alex", "last_chat": chat.id, "last_character": "mara"})

    report = P.delete_profile(paths, "alex")
    assert report.name == "alex" and not report.encrypted and not report.key_destroyed
    assert not paths.profile("alex").exists()
    for needle in ("alex", chat.id, "ALEX-ONLY-TEXT", "ALEX-SUMMARY", "KVSTATE"):
        assert mentions(paths.home, needle) == [], needle
    assert load_state(paths.state_file) == {}
    assert sam.store.chat(sam_chat.id).id == sam_chat.id  # the other profile is untouched
    assert [p.name for p in paths.profiles.iterdir()] == ["sam"]


def test_deleting_keeps_state_of_another_profile(paths):
    P.create_profile(paths, "alex")
    save_state(paths.state_file, {"profile": "sam", "last_chat": "c1"})
    P.delete_profile(paths, "alex")
    assert load_state(paths.state_file) == {"profile": "sam", "last_chat": "c1"}


def test_deleting_an_encrypted_profile_destroys_its_key(paths, fast_kdf):
    info = P.create_profile(paths, "sec", passphrase="pw")
    assert [p.name for p in (info.path / "files").iterdir()]  # the sealed profile.toml
    report = P.delete_profile(paths, "sec")
    assert report.encrypted and report.key_destroyed
    assert list(paths.profiles.iterdir()) == []


def test_deleting_also_removes_leftovers_of_an_interrupted_conversion(paths):
    P.create_profile(paths, "alex")
    leftover = paths.profiles / ".alex.trash-20240101T000000Z-abcdef"
    leftover.mkdir()
    (leftover / "messages.jsonl").write_text("OLD-COPY")
    P.delete_profile(paths, "alex")
    assert mentions(paths.home, "OLD-COPY") == []
    assert list(paths.profiles.iterdir()) == []


def test_a_crashed_delete_is_finished_later(paths):
    P.create_profile(paths, "alex")
    P.create_profile(paths, "sam")
    doomed = paths.profiles / ".deleted-zed-abc123"
    doomed.mkdir()
    (doomed / "chat.toml").write_text("HALF-DELETED")
    P.delete_profile(paths, "alex")
    assert mentions(paths.home, "HALF-DELETED") == []
    assert [p.name for p in paths.profiles.iterdir()] == ["sam"]


def test_delete_missing_profile(paths):
    with pytest.raises(P.ProfileNotFound, match="no profile 'ghost'"):
        P.delete_profile(paths, "ghost")


def test_deletion_caveat_is_honest(paths, fast_kdf):
    plain = P.create_profile(paths, "plain")
    text = P.deletion_caveat(plain)
    assert "SSDs" in text and "backups" in text and "key" not in text
    sec = P.create_profile(paths, "sec", passphrase="pw")
    text = P.deletion_caveat(sec)  # everything it holds is encrypted
    assert "key file is overwritten" in text and "not encrypted" not in text
    assert "old copy of the key file" in text and "does not know" in text  # no more than an SSD allows
    (sec.path / "stray.txt").write_text("x")  # a plain file someone put there: say so
    text = P.deletion_caveat(P.profile_info(paths, "sec"))
    assert "key file is overwritten" in text and "not encrypted" in text and "stay readable" in text


def test_plain_data_files_ignores_vault_files(paths, fast_kdf):
    sec = P.create_profile(paths, "sec", passphrase="pw")
    assert P.plain_data_files(sec.path) == 0  # profile.toml is sealed too
    assert not (sec.path / "profile.toml").exists()
    (sec.path / "chats" / "c1").mkdir(parents=True)
    (sec.path / "chats" / "c1" / "messages.jsonl").write_text("x")
    assert P.plain_data_files(sec.path) == 1


# ---------------------------------------------------------------- reminders


def test_reminders_default_from_config_and_saved_per_profile(paths):
    cfg = load_config_text('[privacy]\nreminder_session_minutes = 90\n', "c")
    a = P.create_profile(paths, "a")
    b = P.create_profile(paths, "b")
    assert P.read_reminders(a.path, cfg.privacy)["session_minutes"] == 90
    P.save_reminders(a.path, session_minutes=0, late_night=True)
    ra = P.read_reminders(a.path, cfg.privacy)
    assert ra["session_minutes"] is None and ra["late_night"] is True
    assert P.read_reminders(b.path, cfg.privacy)["session_minutes"] == 90  # b keeps the default
    s = ReminderSettings.from_mapping(ra)
    assert s.late_night and s.session_minutes is None
    with pytest.raises(P.ProfileError):
        P.save_reminders(a.path, session_minutes=-1, late_night=False)


# ---------------------------------------------------------------- [privacy] config


def test_privacy_defaults():
    p = Config().privacy
    assert p.panic_key == "f12" and p.panic_screen == "blank" and p.idle_lock_minutes == 10
    assert p.tripwire is True and p.deny_names == () and p.usage_stats is True
    assert p.reminder_session_minutes == 0 and p.reminder_late_night is False


def test_privacy_deny_names_is_an_array_of_strings():
    cfg = load_config_text('[privacy]\ndeny_names = ["Alex Doe", "Sam"]\n', "c.toml")
    assert cfg.privacy.deny_names == ("Alex Doe", "Sam")
    with pytest.raises(ConfigError, match=r"c.toml:2: \[privacy\] deny_names must be an array of strings"):
        load_config_text('[privacy]\ndeny_names = "Sam"\n', "c.toml")
    with pytest.raises(ConfigError, match=r"c.toml:2: .*deny_names.* must not be empty"):
        load_config_text('[privacy]\ndeny_names = ["Sam", " "]\n', "c.toml")
    with pytest.raises(ConfigError, match="array of strings"):
        load_config_text('[privacy]\ndeny_names = [1]\n', "c.toml")
    assert replace(Config(), privacy={"deny_names": ["X"]}).privacy.deny_names == ("X",)


@pytest.mark.parametrize(
    "line, needle",
    [
        ('panic_screen = "shell"', 'must be one of "blank", "log"'),
        ("idle_lock_minutes = -1", "at least 0"),
        ('night_start = "25:00"', "HH:MM"),
        ('panic_key = "F 12"', "key name"),
    ],
)
def test_privacy_values_are_checked(line, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config_text(f"[privacy]\n{line}\n", "c.toml")


# ---------------------------------------------------------------- encrypt / decrypt in place


class _Crash(BaseException):
    """Stands for the process dying at a checkpoint."""


@pytest.mark.parametrize("step", ["file", "staged", "old-moved", "swapped"])
def test_an_interrupted_encryption_opens_whole_afterwards(paths, fast_kdf, monkeypatch, step):
    plain = ws_for(paths, "alex")
    chat = plain.new_chat("mara")
    plain.store.append(
        chat.id,
        Message(id="m-1", speaker="Alex", role="user", text="LANTERN-7 by the sea", created="2026-11-24T10:00:00Z"),
    )
    save_memory(plain.store.chat_dir(chat.id), Memory(pinned_summary="LANTERN-7 was said."))
    P.set_shared(paths, "alex", True)

    def checkpoint(name: str) -> None:
        if name == step:
            raise _Crash(step)

    monkeypatch.setattr(C, "_checkpoint", checkpoint)
    with pytest.raises(_Crash):
        P.encrypt_profile(paths, "alex", "pw")
    monkeypatch.setattr(C, "_checkpoint", lambda name: None)

    info = {p.name: p for p in P.list_profiles(paths)}["alex"]  # finishes or undoes the swap
    assert [p.name for p in paths.profiles.iterdir()] == ["alex"]
    if not info.encrypted:  # the crash came before the swap: still the plain profile
        assert step in ("file", "staged")
        info = P.encrypt_profile(paths, "alex", "pw")
    assert info.encrypted and info.shared and info.chats is None
    assert P.plain_data_files(info.path) == 0
    assert mentions(paths.home, "LANTERN-7") == []
    opened = Workspace(paths, replace(Config(), chat={"profile": "alex"}), vault=V.unlock(info.path, "pw"))
    msgs, _ = opened.store.messages(chat.id)
    assert msgs[-1].text == "LANTERN-7 by the sea"
    assert [c.slug for c in opened.cards()] == [c.slug for c in plain.cards()]

    back = P.decrypt_profile(paths, "alex", "pw")
    assert not back.encrypted and back.shared and back.chats == 1
    again = ws_for(paths, "alex")
    assert again.store.messages(chat.id)[0][-1].text == "LANTERN-7 by the sea"


def test_encrypt_and_decrypt_refuse_the_wrong_state_and_passphrase(paths, fast_kdf):
    P.create_profile(paths, "alex")
    with pytest.raises(P.ProfileError, match="not encrypted"):
        P.decrypt_profile(paths, "alex", "pw")
    P.encrypt_profile(paths, "alex", "pw")
    with pytest.raises(P.ProfileError, match="already encrypted"):
        P.encrypt_profile(paths, "alex", "pw")
    before = {p: p.read_bytes() for p in paths.profiles.rglob("*") if p.is_file()}
    with pytest.raises(V.WrongPassphrase):
        P.decrypt_profile(paths, "alex", "nope")
    assert {p: p.read_bytes() for p in paths.profiles.rglob("*") if p.is_file()} == before


def test_a_locked_workspace_reads_nothing_and_writes_nothing(paths, fast_kdf):
    P.create_profile(paths, "sec", passphrase="pw")
    ws = ws_for(paths, "sec")  # no key given: locked
    assert ws.encrypted and ws.locked
    before = {p: p.read_bytes() for p in paths.profiles.rglob("*") if p.is_file()}
    with pytest.raises(PermissionError, match="locked"):
        ws.cards()
    with pytest.raises(PermissionError, match="locked"):
        ws.new_chat("mara")
    with pytest.raises(StoreError, match="locked"):
        ws.store.list_chats()
    assert {p: p.read_bytes() for p in paths.profiles.rglob("*") if p.is_file()} == before
