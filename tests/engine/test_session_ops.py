"""Chat operations through Session on the real model: swipes, regenerate,
continue, impersonate, branch, search, edit/delete and the busy guard."""

from __future__ import annotations

import threading

import pytest
from conftest import RecordingEngine

from tui.core import paths
from tui.core.chat.session import (
    Impersonation,
    NothingToContinue,
    ReplyDone,
    Session,
    SessionBusy,
    SessionError,
    greeting_swipes,
)
from tui.core.config.settings import Config, replace
from tui.core.engine.api import Chunk, Sampling
from tui.core.profile.workspace import Workspace
from tui.core.storage.errors import MessageNotFound
from tui.core.storage.model import Message
from tui.core.storage.store import Store

GREEDY = Sampling(temperature=0.0, seed=3, max_tokens=16)
WARM = Sampling(temperature=1.0, seed=7, max_tokens=16)


def workspace() -> Workspace:
    return Workspace(paths.resolve(), replace(Config(), chat={"user_name": "Sam"}))


def fresh_messages(ws: Workspace, chat_id: str) -> list[Message]:
    """What is on disk, read by a brand-new Store."""
    msgs, _ = Store(ws.store.root).messages(chat_id)
    return msgs


def written_turn(engine, reply="Rain again? Then sit by the fire, and I will tell you about", **kw):
    """A chat with greeting, a user line and a reply, all written by the store."""
    ws = workspace()
    chat = ws.new_chat("mara")
    ws.store.append(chat.id, Message.new("Sam", "user", "Hello Mara, it rained all day."))
    add_reply(ws, chat.id, reply, **kw)
    rec = RecordingEngine(engine)
    return ws, Session(ws, chat.id, rec), rec


def session_after_one_turn(engine, slug="mara"):
    ws = workspace()
    chat = ws.new_chat(slug)
    rec = RecordingEngine(engine)
    s = Session(ws, chat.id, rec)
    events = list(s.send("Hello Mara, it rained all day.", sampling=GREEDY))
    assert isinstance(events[-1], ReplyDone)
    return ws, s, rec


def add_reply(ws: Workspace, chat_id: str, *texts: str, metrics: dict | None = None) -> Message:
    """A reply with swipes, written through the store (no model needed)."""
    m = Message.new("Mara", "assistant", texts[0], metrics=metrics)
    for t in texts[1:]:
        m.add_swipe(t)
    ws.store.append(chat_id, m)
    return m


# --- regenerate and swipes ---------------------------------------------------------


def test_regenerate_adds_a_swipe_and_the_next_prompt_uses_the_chosen_one(home, engine):
    ws, s, rec = session_after_one_turn(engine)
    first = s.messages()[-1]
    events = list(s.regenerate(sampling=WARM))
    # the regenerate prompt is the history without the reply being replaced
    assert rec.prompt_text().endswith("Sam: Hello Mara, it rained all day.\nMara:")
    chunks = "".join(e.text for e in events if isinstance(e, Chunk))
    done = events[-1]
    assert isinstance(done, ReplyDone) and done.reason in ("stop", "length")
    second = done.message
    assert second.id == first.id and second.text == chunks.strip()
    assert second.swipes() == [first.text, second.text] and second.swipe_index() == 1
    assert second.text != first.text  # a different seed and temperature
    assert len(s.messages()) == 3  # greeting, user, one reply with two swipes

    on_disk = fresh_messages(ws, s.chat_id)[-1]
    assert on_disk.text == second.text and on_disk.extra["swipes"] == [first.text, second.text]
    assert f"Mara: {second.text}\n" in s.build_prompt().text
    assert first.text not in s.build_prompt().text

    back = s.swipe(-1)
    assert back is not None and back.text == first.text
    assert f"Mara: {first.text}\n" in s.build_prompt().text
    assert second.text not in s.build_prompt().text
    assert s.swipe(-1) is None  # nothing left of the first swipe


def test_regenerate_after_a_user_message_just_replies(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    ws.store.append(chat.id, Message.new("Sam", "user", "Good evening."))
    s = Session(ws, chat.id, engine)
    done = list(s.regenerate(sampling=GREEDY))[-1]
    msgs = fresh_messages(ws, chat.id)
    assert [m.role for m in msgs] == ["assistant", "user", "assistant"]
    assert msgs[-1].id == done.message.id and "swipes" not in msgs[-1].extra


def test_swipe_left_right_persists_and_stops_at_the_ends(home, engine):
    ws = workspace()
    chat = ws.new_chat("vesper")
    ws.store.append(chat.id, Message.new("Sam", "user", "Which way to the harbour?"))
    add_reply(ws, chat.id, "North.", "South.", "Follow the gulls.")
    s = Session(ws, chat.id, engine)
    assert s.messages()[-1].text == "Follow the gulls."
    assert s.swipe(+1) is None  # right on the last swipe: the UI regenerates

    m = s.swipe(-1)
    assert m is not None and m.text == "South." and m.swipe_index() == 1
    assert fresh_messages(ws, chat.id)[-1].text == "South."
    assert s.swipe(-1).text == "North."
    assert s.swipe(-1) is None
    assert fresh_messages(ws, chat.id)[-1].text == "North."
    assert s.swipe(+1).text == "South."
    reread = fresh_messages(ws, chat.id)[-1]
    assert reread.text == "South." and reread.swipes() == ["North.", "South.", "Follow the gulls."]

    ws.store.append(chat.id, Message.new("Sam", "user", "Thanks."))
    assert s.swipe(-1) is None and s.swipe(+1) is None  # last message is the user's
    with pytest.raises(ValueError):
        s.swipe(2)


def test_alternate_greetings_are_swipes_of_a_lone_greeting(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    card = ws.card("mara").card
    expected = greeting_swipes(card, "Sam")
    assert len(expected) == 1 + len(card.alternate_greetings) > 1
    assert "{{" not in "".join(expected)

    s = Session(ws, chat.id, engine)
    greeting = s.messages()[0]
    assert greeting.swipes() == expected and greeting.swipe_index() == 0
    assert "swipes" not in fresh_messages(ws, chat.id)[0].extra  # offered, not yet written

    picked = s.swipe(+1)
    assert picked is not None and picked.text == expected[1]
    assert fresh_messages(ws, chat.id)[0].text == expected[1]
    prompt = s.build_prompt().text
    assert f"Mara: {expected[1]}\n" in prompt and expected[0] not in prompt

    # once the chat goes on, the greeting is no longer the last message to swipe
    ws.store.append(chat.id, Message.new("Sam", "user", "Hello."))
    assert s.swipe(-1) is None


def test_cancel_during_regenerate_keeps_a_stopped_swipe(home, engine):
    ws, s, _rec = written_turn(engine, "It was a grey day here too.")
    first = s.messages()[-1]
    cancel = threading.Event()
    stream = s.regenerate(sampling=Sampling(temperature=1.0, seed=11, max_tokens=200), cancel=cancel)
    got = ""
    events = []
    for ev in stream:
        events.append(ev)
        if isinstance(ev, Chunk):
            got += ev.text
            cancel.set()  # like Esc: the engine stops, the stream still ends
    done = events[-1]
    assert isinstance(done, ReplyDone) and done.reason == "cancelled"
    m = fresh_messages(ws, s.chat_id)[-1]
    assert m.status == "stopped" and m.swipes()[0] == first.text and len(m.swipes()) == 2
    assert m.text.startswith(got.strip()) and m.text
    assert m.extra["swipe_meta"][0]["status"] == "ok"
    assert m.extra["swipe_meta"][1]["status"] == "stopped"

    # closing the stream early (Ctrl+C) keeps the partial swipe too
    stream = s.regenerate(sampling=Sampling(temperature=1.0, seed=12, max_tokens=200))
    for ev in stream:
        assert isinstance(ev, Chunk)
        break
    stream.close()
    m = fresh_messages(ws, s.chat_id)[-1]
    assert len(m.swipes()) == 3 and m.swipe_index() == 2 and m.status == "stopped"
    assert not s.busy
    # swiping back to the first one restores its own status
    s.swipe(-1)
    assert s.swipe(-1).status == "ok"


# --- continue and impersonate ------------------------------------------------------


def test_continue_appends_to_the_last_reply(home, engine):
    ws, s, rec = written_turn(engine, metrics={"generated_tokens": 12})
    old = s.messages()[-1]
    events = list(s.continue_reply(sampling=GREEDY))
    assert rec.prompt_text().endswith(f"\nMara: {old.text}")  # no new reply prefix
    added = "".join(e.text for e in events if isinstance(e, Chunk))
    done = events[-1]
    assert isinstance(done, ReplyDone)
    new = fresh_messages(ws, s.chat_id)[-1]
    assert new.id == old.id and new.text == done.message.text
    assert new.text.startswith(old.text) and len(new.text) > len(old.text)
    assert new.text == old.text + added.rstrip()  # the raw chunks carry the joining space
    assert new.metrics["continued"] == 1
    assert new.metrics["generated_tokens"] > old.metrics["generated_tokens"]
    assert len(fresh_messages(ws, s.chat_id)) == 3

    # stopped part-way (Esc): what came is kept, the reply is marked stopped
    new = s.edit(new.id, old.text)  # back to the cut-off text
    cancel = threading.Event()
    got = ""
    for ev in s.continue_reply(sampling=Sampling(temperature=0, seed=3, max_tokens=200), cancel=cancel):
        if isinstance(ev, Chunk):
            got += ev.text
            cancel.set()
    again = fresh_messages(ws, s.chat_id)[-1]
    assert again.text == new.text + got.rstrip() and got.strip()
    assert again.status == "stopped" and again.metrics["continued"] == 2


def test_continue_needs_a_reply_to_extend(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    ws.store.append(chat.id, Message.new("Sam", "user", "Hi."))
    s = Session(ws, chat.id, engine)
    with pytest.raises(NothingToContinue, match="no reply to continue"):
        s.continue_reply(sampling=GREEDY)
    assert not s.busy


def test_impersonate_drafts_the_users_line_and_stores_nothing(home, engine):
    ws, s, rec = written_turn(engine, "Sit down, then. What happened at the meeting?")
    jsonl = s.info.path / "messages.jsonl"
    before = jsonl.read_bytes()
    events = list(s.impersonate(sampling=GREEDY))
    assert rec.prompt_text().endswith("\nSam:")
    assert "\nMara:" in rec.requests[-1].stop
    done = events[-1]
    assert isinstance(done, Impersonation)
    assert done.text and done.text == "".join(e.text for e in events[:-1]).strip()
    assert "Mara:" not in done.text
    assert jsonl.read_bytes() == before
    assert not s.busy


# --- history operations ------------------------------------------------------------


def test_branch_copies_history_up_to_the_message_and_records_parent(home, engine):
    ws, s, _rec = written_turn(engine)
    msgs = s.messages()
    info = s.branch(msgs[1].id)
    assert info.parent == s.chat_id and info.parent_message == msgs[1].id
    copied = Session(ws, info.id, engine).messages()
    assert [(m.id, m.text) for m in copied] == [(m.id, m.text) for m in msgs[:2]]
    listed = {c.id: c for c in ws.store.list_chats()}
    assert listed[info.id].parent == s.chat_id
    assert len(s.messages()) == 3  # the original chat is unchanged
    with pytest.raises(MessageNotFound):
        s.branch("0000missing")


def test_search_edit_and_delete_from(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, engine)
    ws.store.append(chat.id, Message.new("Sam", "user", "Do you sell maps? MAPS of the coast?"))
    reply = add_reply(ws, chat.id, "We have two maps.", "Maps are upstairs.")
    ws.store.append(chat.id, Message.new("Sam", "user", "Thank you."))

    hits = s.search("maps")
    assert [(m.text, spans) for m, spans in hits] == [
        ("Do you sell maps? MAPS of the coast?", [(12, 16), (18, 22)]),
        ("Maps are upstairs.", [(0, 4)]),
    ]
    assert s.search("") == []

    edited = s.edit(reply.id, "  Maps are on the second floor.  ")
    assert edited.text == "Maps are on the second floor."
    on_disk = fresh_messages(ws, chat.id)[2]
    assert on_disk.text == "Maps are on the second floor."
    assert on_disk.swipes() == ["We have two maps.", "Maps are on the second floor."]
    with pytest.raises(SessionError, match="cannot be empty"):
        s.edit(reply.id, "   ")
    with pytest.raises(MessageNotFound):
        s.edit("0000missing", "x")

    assert s.delete_from(reply.id) == 2
    assert [m.text for m in fresh_messages(ws, chat.id)][1:] == ["Do you sell maps? MAPS of the coast?"]
    with pytest.raises(MessageNotFound):
        s.delete_from(reply.id)


def test_only_one_generation_at_a_time(home, engine):
    ws, s, _rec = written_turn(engine, "Welcome back.")
    n = len(fresh_messages(ws, s.chat_id))
    stream = s.send("Tell me about the cat.", sampling=Sampling(temperature=0, seed=1, max_tokens=200))
    first = next(stream)
    assert isinstance(first, Chunk) and s.busy
    for start in (s.regenerate, s.continue_reply, s.impersonate, s.reply):
        with pytest.raises(SessionBusy, match="still being generated"):
            start(sampling=GREEDY)
    with pytest.raises(SessionBusy):
        s.send("Are you there?")
    with pytest.raises(SessionBusy):
        s.swipe(-1)
    with pytest.raises(SessionBusy):
        s.edit(s.messages()[0].id, "x")
    assert len(fresh_messages(ws, s.chat_id)) == n + 1  # only the first send's message
    stream.close()
    assert not s.busy
    assert fresh_messages(ws, s.chat_id)[-1].status == "stopped"

    # a stream that is dropped before it starts frees the session too
    unused = s.reply(sampling=GREEDY)
    assert s.busy
    unused.close()
    assert not s.busy
    done = list(s.reply(sampling=GREEDY))[-1]
    assert isinstance(done, ReplyDone) and not s.busy
