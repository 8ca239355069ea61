"""Store support for chat operations: swipes in a message, atomic updates,
branches (parent links) and search."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tui.core.storage.errors import MessageNotFound, StoreError
from tui.core.storage.model import Message
from tui.core.storage.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "profiles" / "default")


def chat_with(store: Store, *texts: str) -> tuple[str, list[Message]]:
    info = store.new_chat(["mira"], ["Ada"], "Walk")
    msgs = []
    for i, text in enumerate(texts):
        role = "user" if i % 2 else "assistant"
        m = Message.new("Ada" if role == "user" else "Mira", role, text)
        store.append(info.id, m)
        msgs.append(m)
    return info.id, msgs


def lines(store: Store, chat_id: str) -> list[dict]:
    raw = (store.chat_dir(chat_id) / "messages.jsonl").read_text(encoding="utf-8")
    return [json.loads(x) for x in raw.splitlines()]


# --- swipes inside a message ----------------------------------------------------


def test_message_without_swipes_has_its_text_as_only_swipe() -> None:
    m = Message.new("Mira", "assistant", "Hello.")
    assert m.swipes() == ["Hello."] and m.swipe_index() == 0
    assert "swipes" not in m.to_json()


def test_add_swipe_appends_selects_and_keeps_each_ones_status() -> None:
    m = Message.new("Mira", "assistant", "First.", metrics={"generated_tokens": 3})
    m.extra["finish"] = "stop"
    m.add_swipe("Second.", status="stopped", metrics={"generated_tokens": 5}, finish="cancelled")
    assert m.swipes() == ["First.", "Second."] and m.swipe_index() == 1
    assert (m.text, m.status, m.metrics, m.extra["finish"]) == (
        "Second.", "stopped", {"generated_tokens": 5}, "cancelled"
    )
    m.select_swipe(0)
    assert (m.text, m.status, m.metrics, m.extra["finish"]) == (
        "First.", "ok", {"generated_tokens": 3}, "stop"
    )
    m.select_swipe(1)
    assert m.text == "Second." and m.status == "stopped"
    with pytest.raises(StoreError, match="no swipe 2"):
        m.select_swipe(2)


def test_set_text_changes_the_chosen_swipe_only() -> None:
    m = Message.new("Mira", "assistant", "One.")
    m.add_swipe("Two.")
    m.select_swipe(0)
    m.set_text("One, edited.")
    assert m.swipes() == ["One, edited.", "Two."]
    m.select_swipe(1)
    m.select_swipe(0)
    assert m.text == "One, edited."


def test_swipes_round_trip_through_json() -> None:
    m = Message.new("Mira", "assistant", "One.")
    m.add_swipe("Two.", metrics={"seed": 4})
    m.select_swipe(0)
    back = Message.from_json(json.loads(json.dumps(m.to_json())))
    assert back.text == "One." and back.swipes() == ["One.", "Two."] and back.swipe_index() == 0
    back.select_swipe(1)
    assert back.text == "Two." and back.metrics == {"seed": 4}


def test_hand_broken_swipe_fields_fall_back_safely() -> None:
    d = Message.new("Mira", "assistant", "Kept.").to_json()
    d["swipes"] = "not a list"
    d["swipe"] = 7
    m = Message.from_json(d)
    assert m.swipes() == ["Kept."] and m.swipe_index() == 0
    d["swipes"], d["swipe"] = ["a", 5], 1  # not all text: ignored
    m = Message.from_json(d)
    assert m.swipes() == ["Kept."] and m.swipe_index() == 0
    m.add_swipe("New.")  # and repaired by the next change
    assert m.swipes() == ["Kept.", "New."] and m.swipe_index() == 1
    d["swipes"], d["swipe"] = ["a", "b"], 9  # index out of range: the last one
    m = Message.from_json(d)
    assert m.swipe_index() == 1 and m.swipes() == ["a", "Kept."]  # text wins


# --- atomic updates -----------------------------------------------------------------


def test_update_message_persists_and_unknown_id_writes_nothing(store: Store) -> None:
    chat_id, msgs = chat_with(store, "Hi.", "Hello.")
    store.update_message(chat_id, msgs[0].id, lambda m: m.add_swipe("Hey there."))
    on_disk, _ = store.messages(chat_id)
    assert on_disk[0].text == "Hey there." and on_disk[0].swipes() == ["Hi.", "Hey there."]
    before = (store.chat_dir(chat_id) / "messages.jsonl").read_bytes()
    with pytest.raises(MessageNotFound):
        store.update_message(chat_id, "nope", lambda m: m.set_text("x"))
    assert (store.chat_dir(chat_id) / "messages.jsonl").read_bytes() == before


def test_modify_messages_that_raises_leaves_the_file_alone(store: Store) -> None:
    chat_id, _ = chat_with(store, "Hi.", "Hello.")
    before = (store.chat_dir(chat_id) / "messages.jsonl").read_bytes()

    def boom(msgs: list[Message]) -> None:
        msgs.clear()
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        store.modify_messages(chat_id, boom)
    assert (store.chat_dir(chat_id) / "messages.jsonl").read_bytes() == before


def test_edit_message_keeps_the_chosen_swipe_in_sync(store: Store) -> None:
    chat_id, msgs = chat_with(store, "Hi.")
    store.update_message(chat_id, msgs[0].id, lambda m: m.add_swipe("Hey."))
    store.edit_message(chat_id, msgs[0].id, "Hey, you.")
    (line,) = lines(store, chat_id)
    assert line["text"] == "Hey, you." and line["swipes"] == ["Hi.", "Hey, you."]


# --- branches -------------------------------------------------------------------------


def test_branch_copies_up_to_the_message_and_records_parent(store: Store) -> None:
    chat_id, msgs = chat_with(store, "a", "b", "c", "d")
    store.update_message(chat_id, msgs[2].id, lambda m: m.add_swipe("c2"))
    branch = store.branch_chat(chat_id, msgs[2].id)
    assert branch.id != chat_id
    assert (branch.parent, branch.parent_message) == (chat_id, msgs[2].id)
    assert branch.title == "Walk (branch)" and branch.characters == ["mira"]
    copied, _ = store.messages(branch.id)
    assert [m.id for m in copied] == [m.id for m in msgs[:3]]
    assert [m.text for m in copied] == ["a", "b", "c2"] and copied[2].swipes() == ["c", "c2"]
    # the original is untouched; chat.toml carries the link; files stay private
    assert [m.text for m in store.messages(chat_id)[0]] == ["a", "b", "c2", "d"]
    toml = (branch.path / "chat.toml").read_text()
    assert f'parent = "{chat_id}"' in toml and f'parent_message = "{msgs[2].id}"' in toml
    assert stat.S_IMODE((branch.path / "messages.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(branch.path.stat().st_mode) == 0o700


def test_list_chats_reports_parents_and_plain_chats_have_none(store: Store) -> None:
    chat_id, msgs = chat_with(store, "a", "b")
    branch = store.branch_chat(chat_id, msgs[0].id, title="Other road")
    by_id = {c.id: c for c in store.list_chats()}
    assert by_id[branch.id].parent == chat_id and by_id[branch.id].parent_message == msgs[0].id
    assert by_id[branch.id].title == "Other road"
    assert by_id[chat_id].parent is None and by_id[chat_id].parent_message is None


def test_branch_of_unknown_message_creates_nothing(store: Store) -> None:
    chat_id, _ = chat_with(store, "a")
    with pytest.raises(MessageNotFound):
        store.branch_chat(chat_id, "0000missing")
    assert [c.id for c in store.list_chats()] == [chat_id]
    assert not [p for p in store.chats_dir.iterdir() if p.name.startswith(".")]


# --- search -----------------------------------------------------------------------------


def test_search_is_case_insensitive_with_every_span(store: Store) -> None:
    chat_id, msgs = chat_with(store, "The Rain, the rain.", "No weather here.", "RAINbow")
    hits = store.search(chat_id, "rain")
    assert [(m.id, spans) for m, spans in hits] == [
        (msgs[0].id, [(4, 8), (14, 18)]),
        (msgs[2].id, [(0, 4)]),
    ]
    text = hits[0][0].text
    assert [text[a:b] for a, b in hits[0][1]] == ["Rain", "rain"]


def test_search_treats_query_literally_and_blank_finds_nothing(store: Store) -> None:
    chat_id, _ = chat_with(store, "Price: $5 (maybe).", "Café CAFÉ")
    assert store.search(chat_id, "") == [] and store.search(chat_id, "   ") == []
    (hit,) = store.search(chat_id, "(maybe)")
    assert hit[1] == [(10, 17)]
    (hit,) = store.search(chat_id, "café")
    assert hit[1] == [(0, 4), (5, 9)]
    assert store.search(chat_id, "nowhere") == []
