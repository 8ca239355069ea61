"""Opening a long encrypted chat decrypts only the segments it shows.

``tui.core.storage.message_log`` reads a sealed chat by segment: the encrypted
index records each closed segment's message count (``records``), so
``count`` and the last page decrypt the last segment or two whatever the
length of the chat, a page elsewhere decrypts the segments it spans, and
``find_id`` decrypts backwards from the end. Checked here by counting the
segments decrypted (``SealedFS.read_segment``), not by time, and by
comparing every positional read with a full ``Store.messages()`` read:
after appends across a segment boundary, after an edit (a rewrite), for a
chat with hand-written blank lines encrypted from a plain profile, and for
an index without counts (the fallback that decrypts the whole chat).
"""

from __future__ import annotations

import json
import os

import pytest
from test_sealed_fs import PW, fs, profile  # noqa: F401 - the same vault fixtures

from tui.core.privacy import convert as C
from tui.core.privacy import segments as S
from tui.core.privacy import vault as V
from tui.core.privacy.sealed_fs import SealedFS
from tui.core.storage import message_log
from tui.core.storage.model import Message
from tui.core.storage.store import Store


@pytest.fixture
def no_fsync(monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The segments decrypted through the message log, in order."""
    seen: list[str] = []
    real = SealedFS.read_segment

    def counting(self, rel, opaque):
        seen.append(opaque)
        return real(self, rel, opaque)

    monkeypatch.setattr(SealedFS, "read_segment", counting)
    return seen


def _long_chat(fs, n: int) -> str:
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "long")
    store.replace_messages(
        info.id, [Message.new("You" if i % 2 else "Mara", "user" if i % 2 else "assistant", f"m{i}") for i in range(n)]
    )
    return info.id


def _same_as_full(store: Store, chat_id: str) -> None:
    """Every positional read agrees with one whole read of the chat."""
    msgs, report = store.messages(chat_id)
    assert report.torn == []
    texts = [m.text for m in msgs]
    n = len(msgs)
    assert store.count(chat_id) == n
    for start, stop in [(0, 10), (n - 60, n), (n // 2 - 5, n // 2 + 300), (120, 140), (n - 1, n + 5)]:
        assert [m.text for m in store.page(chat_id, start, stop)] == texts[max(0, start):stop]
    tail, start = store.tail(chat_id, 60)
    assert start == max(0, n - 60) and [m.text for m in tail] == texts[start:]
    count, last = store.last_message(chat_id)
    assert count == n and last is not None and last.id == msgs[-1].id
    for i in sorted({0, 1, 127, 128, 129, n // 3, n - 200, n - 2, n - 1}):
        if 0 <= i < n:
            assert store.position(chat_id, msgs[i].id) == i
    assert store.position(chat_id, "no-such-id") is None
    word = texts[n // 2]
    hits = store.search_positions(chat_id, word)
    assert [(pos, m.text) for pos, m, _spans in hits] == [
        (i, t) for i, t in enumerate(texts) if word.lower() in t.lower()
    ]


def test_opening_a_long_chat_decrypts_the_last_segments_only(fs, reads, no_fsync):
    chat = _long_chat(fs, 5000)
    segments = len(fs.segment_files(f"chats/{chat}/messages.jsonl"))
    assert segments >= 5000 // S.SEGMENT_LINES
    store = Store(fs.root)  # a fresh opener: nothing decrypted yet
    reads.clear()
    assert store.count(chat) == 5000
    tail, start = store.tail(chat, 60)
    assert start == 4940 and [m.text for m in tail] == [f"m{i}" for i in range(4940, 5000)]
    assert len(reads) <= 2
    assert store.last_message(chat)[0] == 5000 and len(reads) <= 2

    fresh = Store(fs.root)
    reads.clear()
    assert [m.text for m in fresh.page(chat, 0, 10)] == [f"m{i}" for i in range(10)]
    first = fs.segment_files(f"chats/{chat}/messages.jsonl")[0]
    assert reads[-1] == first and set(reads) <= {first, fs.segment_files(f"chats/{chat}/messages.jsonl")[-1]}
    assert reads.count(first) == 1


def test_a_page_in_the_middle_decrypts_the_segments_it_spans(fs, reads, no_fsync):
    chat = _long_chat(fs, 5000)
    store = Store(fs.root)
    store.count(chat)
    reads.clear()
    assert [m.text for m in store.page(chat, 2000, 2100)] == [f"m{i}" for i in range(2000, 2100)]
    assert len(reads) <= 2  # 100 messages: one segment boundary at most
    reads.clear()
    store.page(chat, 2000, 2100)
    assert reads == []  # kept


def test_find_id_decrypts_backwards_and_stops(fs, reads, no_fsync):
    chat = _long_chat(fs, 5000)
    store = Store(fs.root)
    msgs, _ = store.messages(chat)
    store.count(chat)
    reads.clear()
    assert store.position(chat, msgs[4800].id) == 4800
    assert len(reads) <= 3  # the last segments only, from the end
    assert store.position(chat, msgs[4800].id) == 4800


def test_a_bounded_number_of_segments_is_kept(fs, reads, no_fsync):
    chat = _long_chat(fs, 6000)
    store = Store(fs.root)
    store.search_positions(chat, "m5")  # decrypts every segment once
    log = store._logs[chat]
    assert len(log._cache) <= message_log.MAX_SEGMENTS
    _same_as_full(store, chat)


def test_positional_reads_agree_after_appends_and_an_edit(fs, reads, no_fsync):
    chat = _long_chat(fs, 1000)
    store = Store(fs.root)
    _same_as_full(store, chat)
    for i in range(300):  # across two segment boundaries
        store.append(chat, Message.new("Mara", "assistant", f"r{i}"))
        reads.clear()
        assert store.count(chat) == 1001 + i
        assert len(reads) <= 1
    _same_as_full(store, chat)
    msgs, _ = store.messages(chat)
    store.edit_message(chat, msgs[3].id, "edited three")  # a rewrite: new segments
    assert [m.text for m in store.page(chat, 2, 5)] == ["m2", "edited three", "m4"]
    _same_as_full(store, chat)
    store.delete_from(chat, msgs[700].id)
    assert store.count(chat) == 700
    _same_as_full(store, chat)
    # another opener appends: this store sees it
    other = Store(SealedFS(V.unlock(fs.profile_dir, PW)).root)
    other.append(chat, Message.new("You", "user", "from elsewhere"))
    assert store.count(chat) == 701
    assert store.tail(chat, 1)[0][0].text == "from elsewhere"
    _same_as_full(store, chat)


def test_hand_made_blank_lines_do_not_shift_positions(tmp_path, fast_kdf, no_fsync):
    home = tmp_path / "prof"
    plain = Store(home)
    info = plain.new_chat(["mara"], ["You"], "long")
    plain.replace_messages(info.id, [Message.new("You", "user", f"m{i}") for i in range(1000)])
    path = home / f"chats/{info.id}/messages.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    # blank lines by hand: at the start, in runs, at a segment boundary, at the end
    for at in (0, 5, 5, 127, 128, 300, 301, 302, 900, len(lines)):
        lines.insert(at, b"   \n" if at % 2 else b"\n")
    path.write_bytes(b"".join(lines))
    assert Store(home).count(info.id) == 1000

    C.encrypt_tree(home, PW).lock()
    fs = SealedFS(V.unlock(home, PW))
    store = Store(fs.root)
    assert store.count(info.id) == 1000
    assert [m.text for m in store.tail(info.id, 3)[0]] == ["m997", "m998", "m999"]
    assert [m.text for m in store.page(info.id, 120, 135)] == [f"m{i}" for i in range(120, 135)]
    _same_as_full(store, info.id)
    log = store._logs[info.id]
    assert log._mode == "lazy"  # the counts in the index were exact
    store.append(info.id, Message.new("Mara", "assistant", "after"))
    _same_as_full(store, info.id)


def test_an_index_without_counts_falls_back_to_a_whole_read(fs, reads, no_fsync):
    chat = _long_chat(fs, 1000)
    rel = f"chats/{chat}/messages.jsonl"
    with fs._mutating():  # as the index was written before the counts
        fs._segs[rel] = [seg[:3] for seg in fs._segs[rel]]
        fs._save()
    again = SealedFS(V.unlock(fs.profile_dir, PW))
    assert all(r is None for _o, _s, r in again.segment_layout(rel))
    store = Store(again.root)
    _same_as_full(store, chat)
    assert store._logs[chat]._mode == "full"
    store.append(chat, Message.new("Mara", "assistant", "after"))
    _same_as_full(store, chat)


def test_a_wrong_count_is_caught_and_the_chat_read_whole(fs, no_fsync):
    chat = _long_chat(fs, 1000)
    rel = f"chats/{chat}/messages.jsonl"
    with fs._mutating():  # an index that lies about one segment
        segs = fs._segs[rel]
        o, b, ln, r = segs[2]
        segs[2] = (o, b, ln, r - 1)
        fs._save()
    store = Store(SealedFS(V.unlock(fs.profile_dir, PW)).root)
    store.count(chat)
    assert [m.text for m in store.page(chat, 300, 303)] == ["m300", "m301", "m302"]
    assert store._logs[chat]._mode == "full"
    _same_as_full(store, chat)


def test_the_index_records_each_segments_messages(fs, no_fsync):
    chat = _long_chat(fs, 500)
    rel = f"chats/{chat}/messages.jsonl"
    import pyrage

    doc = json.loads(pyrage.decrypt((fs.profile_dir / V.INDEX_FILE).read_bytes(), [fs.vault._key()]))
    segs = doc["segments"][rel]
    assert [s["records"] for s in segs] == [s["lines"] for s in segs] == [S.SEGMENT_LINES] * len(segs)
    assert S.count_records(b"a\n\n  \nb\nc") == 2  # blank lines and an unterminated tail are not messages
