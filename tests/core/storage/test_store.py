"""Behaviour of tui.core.storage.store: layout, privacy, edits, repair of torn files."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest

from tui.core.storage.errors import ChatNotFound, InvalidId, MessageNotFound, StoreError
from tui.core.storage.model import Message
from tui.core.storage.store import Store
from tui.core.storage.toml_files import upgrade_chat_toml as _upgrade_chat_toml


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def msg(text: str, role: str = "user", speaker: str = "Ada") -> Message:
    return Message.new(speaker, role, text)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "profiles" / "default")


def jsonl(store: Store, chat_id: str) -> Path:
    return store.chat_dir(chat_id) / "messages.jsonl"


# --- layout and privacy ------------------------------------------------------


def test_folders_are_0700_and_files_0600(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"], "First")
    store.append(info.id, msg("hello"))
    store.load_profile()
    assert mode(store.root) == 0o700
    assert mode(store.chats_dir) == 0o700
    assert mode(info.path) == 0o700
    assert mode(info.path / "chat.toml") == 0o600
    assert mode(info.path / "messages.jsonl") == 0o600
    assert mode(store.profile_file) == 0o600


def test_new_chat_writes_chat_toml(store: Store) -> None:
    info = store.new_chat(["mira", "old_tom"], ["Ada"], "  A walk\nin the  park ")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", info.id)
    assert info.path == store.chats_dir / info.id
    assert info.title == "A walk in the park"
    again = Store(store.root).chat(info.id)
    assert again == info
    assert again.characters == ["mira", "old_tom"]
    assert again.personas == ["Ada"]
    assert again.created == again.updated
    assert again.created.endswith("Z")
    raw = (info.path / "chat.toml").read_text()
    assert "version = 1" in raw


def test_new_chat_ids_are_unique(store: Store) -> None:
    ids = {store.new_chat(["mira"], ["Ada"]).id for _ in range(20)}
    assert len(ids) == 20


def test_missing_messages_file_is_an_empty_chat(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    assert not jsonl(store, info.id).exists()
    msgs, report = store.messages(info.id)
    assert msgs == [] and report.torn == []


def test_unknown_chat_raises_chat_not_found(store: Store) -> None:
    with pytest.raises(ChatNotFound, match=r"no chat 'nope' \(see `candlelit chat list`\)"):
        store.chat("nope")
    with pytest.raises(ChatNotFound):
        store.messages("nope")
    with pytest.raises(ChatNotFound):
        store.append("nope", msg("x"))


# --- messages ------------------------------------------------------------------


def test_append_round_trip_keeps_everything(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    a = msg("Good evening.\nHow are you?\u2028— fine ✨")
    b = Message.new("Mira", "assistant", "Splendid, thank you.", status="stopped",
                    metrics={"prompt_tokens": 120, "ttft_s": 0.25})
    b.extra["future_field"] = {"x": [1, 2]}
    store.append(info.id, a)
    store.append(info.id, b)
    msgs, report = Store(store.root).messages(info.id)
    assert report.torn == []
    assert msgs == [a, b]
    assert msgs[1].extra == {"future_field": {"x": [1, 2]}}
    lines = jsonl(store, info.id).read_bytes().split(b"\n")
    assert len(lines) == 3 and lines[-1] == b""
    assert json.loads(lines[0])["v"] == 1


def test_message_json_shape() -> None:
    m = Message.new("Mira", "assistant", "hi")
    d = m.to_json()
    assert d["v"] == 1 and d["id"] == m.id and d["role"] == "assistant"
    assert "metrics" not in d
    assert re.fullmatch(r"[0-9a-f]{19}", m.id)
    assert Message.from_json({**d, "mood": "calm"}).extra == {"mood": "calm"}
    with pytest.raises(ValueError):
        Message.from_json({"id": "x", "role": "user"})  # no text
    with pytest.raises(StoreError):
        Message.new("x", "narrator", "hi")


def test_lone_surrogate_text_still_round_trips(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    m = msg("broken \ud800 pair")
    store.append(info.id, m)
    assert store.messages(info.id)[0] == [m]


def test_append_bumps_updated_and_list_is_newest_first(store: Store) -> None:
    old = store.new_chat(["mira"], ["Ada"], "old")
    time.sleep(0.003)  # timestamps have millisecond resolution
    store.new_chat(["mira"], ["Ada"], "new")
    assert [c.title for c in store.list_chats()] == ["new", "old"]
    time.sleep(0.003)
    store.append(old.id, msg("back again"))
    touched = store.chat(old.id)
    assert touched.updated > old.updated
    assert [c.title for c in store.list_chats()] == ["old", "new"]


def test_edit_message_persists(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    first, second = msg("one"), msg("two")
    store.append(info.id, first)
    store.append(info.id, second)
    edited = store.edit_message(info.id, first.id, "uno")
    assert edited.text == "uno" and edited.id == first.id
    msgs, _ = Store(store.root).messages(info.id)
    assert [m.text for m in msgs] == ["uno", "two"]
    with pytest.raises(MessageNotFound, match="no message 'zzz'"):
        store.edit_message(info.id, "zzz", "x")


def test_delete_from_removes_message_and_later(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    ms = [msg(f"m{i}") for i in range(5)]
    for m in ms:
        store.append(info.id, m)
    assert store.delete_from(info.id, ms[2].id) == 3
    assert [m.text for m in store.messages(info.id)[0]] == ["m0", "m1"]
    assert store.delete_from(info.id, ms[0].id) == 2
    assert store.messages(info.id)[0] == []
    with pytest.raises(MessageNotFound):
        store.delete_from(info.id, ms[4].id)


def test_replace_messages_is_a_full_rewrite(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    store.append(info.id, msg("a"))
    fresh = [msg("x"), msg("y", role="assistant", speaker="Mira")]
    store.replace_messages(info.id, fresh)
    assert store.messages(info.id)[0] == fresh
    leftovers = [p.name for p in info.path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_rename_chat(store: Store) -> None:
    info = store.new_chat(["mira"], ["Ada"], "before")
    store.rename_chat(info.id, "after\tall")
    assert Store(store.root).chat(info.id).title == "after all"


def test_delete_chat_removes_everything(store: Store) -> None:
    keep = store.new_chat(["mira"], ["Ada"])
    gone = store.new_chat(["mira"], ["Ada"])
    store.append(gone.id, msg("bye"))
    store.delete_chat(gone.id)
    assert not gone.path.exists()
    assert list(store.chats_dir.iterdir()) == [keep.path]
    with pytest.raises(ChatNotFound):
        store.chat(gone.id)
    with pytest.raises(ChatNotFound):
        store.delete_chat(gone.id)


# --- ids from outside ----------------------------------------------------------


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "", "a b", "x\x00", "/etc"])
def test_ids_that_could_escape_are_rejected(store: Store, tmp_path: Path, bad: str) -> None:
    info = store.new_chat(["mira"], ["Ada"])
    before = sorted(p for p in tmp_path.rglob("*"))
    for call in (
        lambda: store.chat(bad),
        lambda: store.messages(bad),
        lambda: store.append(bad, msg("x")),
        lambda: store.rename_chat(bad, "t"),
        lambda: store.delete_chat(bad),
        lambda: store.new_chat([bad], ["Ada"]),
    ):
        with pytest.raises(InvalidId, match="invalid"):
            call()
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert store.chat(info.id).id == info.id


# --- torn and corrupt files ------------------------------------------------------


def _two_good_lines(store: Store) -> tuple[str, list[Message], bytes]:
    info = store.new_chat(["mira"], ["Ada"])
    ms = [msg("first"), msg("second", role="assistant", speaker="Mira")]
    for m in ms:
        store.append(info.id, m)
    return info.id, ms, jsonl(store, info.id).read_bytes()


@pytest.mark.parametrize(
    "tail",
    [
        # a whole object whose newline never made it: never acknowledged
        json.dumps(Message.new("Ada", "user", "late").to_json()).encode(),
        # half an object
        b'{"v":1,"id":"018f0a","speaker":"Ada","role":"user","text":"I was sayi',
        # multi-byte character cut in half
        '{"v":1,"text":"caf\u00e9'.encode()[:-1],
    ],
)
def test_torn_tail_is_set_aside_byte_for_byte(store: Store, tail: bytes) -> None:
    chat_id, ms, good = _two_good_lines(store)
    with open(jsonl(store, chat_id), "ab") as f:
        f.write(tail)

    msgs, report = store.messages(chat_id)

    assert msgs == ms
    assert len(report.torn) == 1
    side = report.torn[0]
    assert side.parent == store.chat_dir(chat_id)
    assert side.name.startswith("messages.jsonl.torn-")
    assert side.read_bytes() == tail
    assert mode(side) == 0o600
    assert jsonl(store, chat_id).read_bytes() == good
    # repaired for good: a second load finds nothing to do
    assert store.messages(chat_id) == (ms, report.__class__(torn=[]))


def test_torn_final_line_with_newline_that_does_not_parse(store: Store) -> None:
    chat_id, ms, good = _two_good_lines(store)
    junk = b'{"v":1,"id":"abc","te\n'
    with open(jsonl(store, chat_id), "ab") as f:
        f.write(junk)
    msgs, report = store.messages(chat_id)
    assert msgs == ms
    assert report.torn[0].read_bytes() == junk
    assert jsonl(store, chat_id).read_bytes() == good


def test_corrupt_middle_lines_are_set_aside_in_order(store: Store) -> None:
    chat_id, ms, _ = _two_good_lines(store)
    path = jsonl(store, chat_id)
    first, second = path.read_bytes().splitlines(keepends=True)
    bad1 = b"this is not json\n"
    bad2 = b'["a list", "not a message"]\n'
    bad3 = b'{"v":1,"id":"x","role":"user"}\n'  # no text
    torn = b'{"v":1,"id":"y'
    path.write_bytes(first + bad1 + bad2 + second + bad3 + torn)

    msgs, report = store.messages(chat_id)

    assert msgs == ms
    assert len(report.torn) == 1
    assert report.torn[0].read_bytes() == bad1 + bad2 + bad3 + torn
    assert path.read_bytes() == first + second


def test_two_repairs_never_overwrite_a_side_file(store: Store) -> None:
    chat_id, ms, _ = _two_good_lines(store)
    path = jsonl(store, chat_id)
    path.open("ab").write(b"one")
    side1 = store.messages(chat_id)[1].torn[0]
    path.open("ab").write(b"two")
    side2 = store.messages(chat_id)[1].torn[0]
    assert side1 != side2
    assert side1.read_bytes() == b"one" and side2.read_bytes() == b"two"


def test_append_after_a_crash_does_not_glue_onto_the_torn_tail(store: Store) -> None:
    chat_id, ms, _ = _two_good_lines(store)
    with open(jsonl(store, chat_id), "ab") as f:
        f.write(b'{"v":1,"id":"half')
    late = msg("after the crash")
    store.append(chat_id, late)  # without loading first
    msgs, report = store.messages(chat_id)
    assert msgs == ms + [late]
    sides = sorted(store.chat_dir(chat_id).glob("messages.jsonl.torn-*"))
    assert [p.read_bytes() for p in sides] == [b'{"v":1,"id":"half']


def test_blank_lines_are_harmless(store: Store) -> None:
    chat_id, ms, good = _two_good_lines(store)
    path = jsonl(store, chat_id)
    path.write_bytes(b"\n" + good + b"  \n")
    msgs, report = store.messages(chat_id)
    assert msgs == ms and report.torn == []
    assert path.read_bytes() == b"\n" + good + b"  \n"


# --- versions ----------------------------------------------------------------------


def test_newer_message_lines_raise_and_stay_untouched(store: Store) -> None:
    chat_id, _, good = _two_good_lines(store)
    path = jsonl(store, chat_id)
    future = b'{"v":2,"id":"zz","kind":"hologram"}\n'
    path.write_bytes(good + future + b'{"v":1,"id":"torn')
    before = path.read_bytes()
    with pytest.raises(StoreError, match="written by a newer Candlelit"):
        store.messages(chat_id)
    assert path.read_bytes() == before
    assert list(store.chat_dir(chat_id).glob("*.torn-*")) == []


def test_newer_chat_toml_raises_and_list_reports_it(store: Store) -> None:
    ok = store.new_chat(["mira"], ["Ada"], "fine")
    future = store.new_chat(["mira"], ["Ada"], "future")
    toml = future.path / "chat.toml"
    toml.write_text(toml.read_text().replace("version = 1", "version = 7"))
    with pytest.raises(StoreError, match="newer Candlelit"):
        store.chat(future.id)
    with pytest.raises(StoreError, match="newer Candlelit"):
        store.messages(future.id)
    assert [c.id for c in store.list_chats()] == [ok.id]
    assert len(store.problems) == 1
    assert store.problems[0].path == future.path
    assert "version 7" in str(store.problems[0])


def test_broken_chat_toml_is_skipped_in_list(store: Store) -> None:
    ok = store.new_chat(["mira"], ["Ada"], "fine")
    broken = store.new_chat(["mira"], ["Ada"], "broken")
    (broken.path / "chat.toml").write_text("title = [unterminated\n")
    odd = store.new_chat(["mira"], ["Ada"], "odd")
    (odd.path / "chat.toml").write_text('version = 1\ncharacters = "mira"\n')
    empty = store.chats_dir / "no-toml-here"
    empty.mkdir()
    (store.chats_dir / ".new-20240101-000000-abcd").mkdir()  # an interrupted new_chat

    chats = store.list_chats()

    assert [c.id for c in chats] == [ok.id]
    problem_paths = sorted(p.path for p in store.problems)
    assert problem_paths == sorted([broken.path, odd.path, empty])
    assert all("\n" not in str(p) for p in store.problems)
    assert [p.message for p in store.problems if p.path == empty] == ["no chat.toml; skipped"]
    with pytest.raises(StoreError, match="not valid TOML"):
        store.chat(broken.id)


def test_upgrade_chain_rejects_newer_and_keeps_current() -> None:
    data = {"version": 1, "id": "x"}
    assert _upgrade_chat_toml(dict(data)) == data
    assert _upgrade_chat_toml({"id": "x"}) == {"id": "x"}  # no version: read as 1
    with pytest.raises(StoreError, match="newer Candlelit"):
        _upgrade_chat_toml({"version": 2})
    with pytest.raises(StoreError, match="invalid version"):
        _upgrade_chat_toml({"version": "one"})


# --- profile ------------------------------------------------------------------------


def test_load_profile_creates_defaults(store: Store) -> None:
    assert not store.profile_file.exists()
    data = store.load_profile({"name": "Ada", "description": "A curious traveller."})
    assert data == {
        "version": 1,
        "persona": {"name": "Ada", "description": "A curious traveller."},
        "starters_installed": [],
    }
    assert store.profile_file.exists()
    # the file now wins over later defaults
    assert Store(store.root).load_profile({"name": "Other"})["persona"]["name"] == "Ada"


def test_save_profile_round_trip(store: Store) -> None:
    data = store.load_profile()
    data["starters_installed"] = ["mira", "old_tom"]
    data["persona"]["name"] = "Bea"
    data["theme"] = {"accent": "amber"}
    store.save_profile(data)
    again = Store(store.root).load_profile()
    assert again["starters_installed"] == ["mira", "old_tom"]
    assert again["persona"]["name"] == "Bea"
    assert again["theme"] == {"accent": "amber"}
    assert mode(store.profile_file) == 0o600


def test_profile_errors_are_store_errors(store: Store) -> None:
    store.root.mkdir(parents=True)
    store.profile_file.write_text("version = 3\n")
    with pytest.raises(StoreError, match="newer Candlelit"):
        store.load_profile()
    store.profile_file.write_text("persona = {\n")
    with pytest.raises(StoreError, match="profile.toml is not valid TOML"):
        store.load_profile()
    with pytest.raises(StoreError, match="cannot save"):
        store.save_profile({"persona": {"name": None}})
