"""The position index beside a chat (``messages.idx``) is a cache that is
never trusted blindly: whatever happens to it or to ``messages.jsonl`` by
hand, by another process or by a crash, ``Store.count/page/tail/position/
search_positions`` answer what a full read of ``messages.jsonl`` says."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import stat
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.bench.long_chat_data import fill_chat
from tui.core.storage import message_index, message_log
from tui.core.storage.message_index import INDEX_NAME, MAGIC
from tui.core.storage.message_log import PAGE
from tui.core.storage.model import Message
from tui.core.storage.store import Store

HEADER = message_index.HEADER  # magic, covered, count, mtime_ns, tail hash, offsets hash


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "profiles" / "default")


def new_chat(store: Store, n: int) -> tuple[str, list[Message]]:
    info = store.new_chat(["mira"], ["Ada"], "Long")
    fill_chat(store, info.id, n)
    msgs, _ = store.messages(info.id)
    assert len(msgs) == n
    return info.id, msgs


def jsonl(store: Store, chat_id: str) -> Path:
    return store.chat_dir(chat_id) / "messages.jsonl"


def idx(store: Store, chat_id: str) -> Path:
    return store.chat_dir(chat_id) / INDEX_NAME


def opened(store: Store, chat_id: str) -> Path:
    """Open the chat the way the view does and make sure its index is on disk."""
    store.count(chat_id)
    store.flush_indexes()
    path = idx(store, chat_id)
    assert path.is_file()
    return path


def header(path: Path) -> tuple[bytes, int, int]:
    magic, covered, count, *_hashes = HEADER.unpack_from(path.read_bytes())
    return magic, covered, count


def hand_line(text: str, n: int) -> tuple[Message, bytes]:
    m = Message(f"hand{n:09d}", "Ada", "user", text, "2026-02-02T00:00:00.000Z")
    return m, (json.dumps(m.to_json()) + "\n").encode()


def assert_reads(store: Store, chat_id: str, expected: list[Message]) -> None:
    """Every positional read agrees with ``expected`` (and with a full read)."""
    full, report = store.messages(chat_id)
    assert report.torn == []
    assert full == expected
    n = len(expected)
    assert store.count(chat_id) == n
    assert store.page(chat_id, 0, n) == expected
    for k in (1, 7, PAGE + 3):
        assert store.tail(chat_id, k) == (expected[-k:], max(0, n - k))
    for i in sorted({0, n // 2, n - 1}):
        if 0 <= i < n:
            assert store.page(chat_id, i, i + 1) == [expected[i]]
            assert store.position(chat_id, expected[i].id) == i
    assert store.last_message(chat_id) == (n, expected[-1] if expected else None)


def sides(store: Store, chat_id: str) -> list[Path]:
    return sorted(store.chat_dir(chat_id).glob("messages.jsonl.torn-*"))


# --- appends from outside this store -----------------------------------------


def test_hand_appended_line_is_counted_and_readable(store: Store) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    late, line = hand_line("Written in a text editor", 1)
    with open(jsonl(store, chat_id), "a", encoding="utf-8") as f:
        f.write(line.decode())

    assert store.count(chat_id) == 301
    assert store.tail(chat_id, 2) == ([msgs[-1], late], 299)
    assert store.page(chat_id, 300, 400) == [late]
    assert store.position(chat_id, late.id) == 300
    # a fresh store (another process, the next start) reads the stale index
    # and picks up the line too
    again = Store(store.root)
    assert again.count(chat_id) == 301
    assert again.last_message(chat_id) == (301, late)
    assert_reads(again, chat_id, msgs + [late])


def test_hand_appended_lines_after_an_index_flushed_with_a_prefix(store: Store) -> None:
    chat_id, msgs = new_chat(store, 40)
    opened(store, chat_id)
    extra = []
    with open(jsonl(store, chat_id), "a", encoding="utf-8") as f:
        for i in range(5):
            m, line = hand_line(f"hand {i}", i)
            extra.append(m)
            f.write(line.decode())
    fresh = Store(store.root)
    assert fresh.tail(chat_id, 6) == ([msgs[-1], *extra], 39)
    assert_reads(fresh, chat_id, msgs + extra)


def test_second_store_sees_appends_of_the_first(store: Store) -> None:
    chat_id, msgs = new_chat(store, 10)
    other = Store(store.root)
    assert other.count(chat_id) == 10  # it has the chat open already
    mine = []
    for i in range(3):
        m = Message.new("Ada", "user", f"from the first {i}")
        store.append(chat_id, m)
        mine.append(m)
        assert other.count(chat_id) == 11 + i
        assert other.tail(chat_id, 1) == ([m], 10 + i)
    # and the other way round, interleaved
    theirs = Message.new("Mira", "assistant", "from the second")
    other.append(chat_id, theirs)
    ours = Message.new("Ada", "user", "first again")
    store.append(chat_id, ours)
    expected = msgs + mine + [theirs, ours]
    assert_reads(store, chat_id, expected)
    assert_reads(other, chat_id, expected)


def test_many_appends_flush_the_index_and_a_new_store_uses_it(store: Store) -> None:
    chat_id, msgs = new_chat(store, 5)
    store.count(chat_id)
    for i in range(message_log.FLUSH_EVERY + 1):
        m = Message.new("Ada", "user", f"append {i}")
        store.append(chat_id, m)
        msgs.append(m)
    # the index on disk fell behind by at most FLUSH_EVERY lines
    _magic, covered, count = header(idx(store, chat_id))
    assert len(msgs) - count <= message_log.FLUSH_EVERY
    assert covered <= jsonl(store, chat_id).stat().st_size
    assert_reads(Store(store.root), chat_id, msgs)


def test_appends_extend_the_index_in_place(store: Store) -> None:
    """A flush writes the new offsets after the old ones (same file, same
    inode), not the whole index again; a new store reads the result."""
    chat_id, msgs = new_chat(store, 2000)
    path = opened(store, chat_id)
    inode = path.stat().st_ino
    for i in range(3 * message_log.FLUSH_EVERY):
        m = Message.new("Ada", "user", f"append {i}")
        store.append(chat_id, m)
        msgs.append(m)
    store.flush_indexes()
    assert path.stat().st_ino == inode  # extended, never replaced
    _magic, covered, count = header(path)
    assert count == len(msgs) and covered == jsonl(store, chat_id).stat().st_size
    assert_reads(Store(store.root), chat_id, msgs)


def test_offsets_written_without_their_header_are_rebuilt(store: Store) -> None:
    """A crash after the new offsets but before the header: the length and
    the header's count disagree, and the next open rebuilds."""
    chat_id, msgs = new_chat(store, 300)
    path = opened(store, chat_id)
    with open(path, "ab") as f:
        f.write(struct.pack("<3Q", 1, 2, 3))
    assert_reads(Store(store.root), chat_id, msgs)


# --- a broken or foreign index -------------------------------------------------


@pytest.mark.parametrize("cut", ["middle", "inside-header", "empty"])
def test_truncated_index_is_rebuilt(store: Store, cut: str) -> None:
    chat_id, msgs = new_chat(store, 600)
    path = opened(store, chat_id)
    data = path.read_bytes()
    keep = {"middle": len(data) // 2 + 3, "inside-header": 20, "empty": 0}[cut]
    path.write_bytes(data[:keep])

    fresh = Store(store.root)
    assert fresh.count(chat_id) == 600
    assert fresh.page(chat_id, 250, 260) == msgs[250:260]
    assert_reads(fresh, chat_id, msgs)
    fresh.flush_indexes()
    assert path.read_bytes() == data  # rewritten whole


@pytest.mark.parametrize("where", ["everywhere", "offsets", "header-fields"])
def test_index_with_garbage_bytes_is_rebuilt(store: Store, where: str) -> None:
    chat_id, msgs = new_chat(store, 600)
    path = opened(store, chat_id)
    data = bytearray(path.read_bytes())
    rng = random.Random(5)
    if where == "everywhere":
        data = bytearray(rng.randbytes(len(data)))
    elif where == "offsets":
        # header intact (magic, size, count, tail hash all match): only the
        # offsets are scrambled, as a bad sector or a stray write would
        for i in range(HEADER.size + 8 * 100, HEADER.size + 8 * 400):
            data[i] = rng.randrange(256)
    else:
        data[8:16] = struct.pack("<Q", 12345)  # covered bytes
    path.write_bytes(bytes(data))

    fresh = Store(store.root)
    assert fresh.count(chat_id) == 600
    assert fresh.page(chat_id, 100, 400) == msgs[100:400]
    assert_reads(fresh, chat_id, msgs)


def test_index_of_an_older_format_is_ignored_and_rebuilt(store: Store) -> None:
    chat_id, msgs = new_chat(store, 300)
    path = opened(store, chat_id)
    data = path.read_bytes()
    magic, covered, count, mtime, tail, _ = HEADER.unpack_from(data)
    offsets = list(struct.unpack_from(f"<{count}Q", data, HEADER.size))
    # an older index: same layout, self-consistent, but its offsets meant
    # something else (trusting them would give the wrong messages)
    body = struct.pack(f"<{count}Q", *([0] + offsets[:-1]))
    old = HEADER.pack(b"CLMIDX1\n", covered, count, mtime, tail, hashlib.sha256(body).digest())
    path.write_bytes(old + body)

    fresh = Store(store.root)
    assert fresh.page(chat_id, 1, 4) == msgs[1:4]
    assert_reads(fresh, chat_id, msgs)
    fresh.flush_indexes()
    assert header(path)[0] == MAGIC
    assert path.read_bytes() == data


def test_index_is_private_and_beside_the_chat(store: Store) -> None:
    chat_id, _ = new_chat(store, 100)
    path = opened(store, chat_id)
    assert path.parent == jsonl(store, chat_id).parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    magic, covered, count = header(path)
    assert (magic, covered, count) == (MAGIC, jsonl(store, chat_id).stat().st_size, 100)
    # no other index file anywhere in the profile
    assert list(store.root.rglob(INDEX_NAME)) == [path]
    assert not [p for p in store.chat_dir(chat_id).iterdir() if p.name.endswith(".tmp")]


def test_deleting_a_chat_removes_its_index(store: Store) -> None:
    chat_id, _ = new_chat(store, 100)
    path = opened(store, chat_id)
    store.delete_chat(chat_id)
    store.flush_indexes()
    assert not path.exists()
    assert list(store.root.rglob(INDEX_NAME)) == []


def test_a_store_with_the_chat_open_does_not_bring_a_deleted_chat_back(store: Store) -> None:
    chat_id, _ = new_chat(store, 10)
    other = Store(store.root)
    other.count(chat_id)
    for i in range(3):  # appends the other store's index has not flushed yet
        store.append(chat_id, Message.new("Ada", "user", f"late {i}"))
    assert other.count(chat_id) == 13
    store.delete_chat(chat_id)
    other.flush_indexes()  # as the other app does when it quits
    assert not store.chat_dir(chat_id).exists()
    assert list(store.root.rglob(INDEX_NAME)) == []
    assert [c.id for c in Store(store.root).list_chats()] == []


def test_rewriting_the_chat_drops_the_old_index(store: Store) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    store.delete_from(chat_id, msgs[100].id)
    assert_reads(store, chat_id, msgs[:100])
    assert_reads(Store(store.root), chat_id, msgs[:100])


# --- a chat file changed behind the index --------------------------------------


@pytest.mark.parametrize("fresh", [False, True], ids=["same-store", "new-store"])
@pytest.mark.parametrize("where", [5, 299], ids=["middle", "last-line"])
def test_same_size_rewrite_in_place_is_detected(store: Store, fresh: bool, where: int) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    store.page(chat_id, 0, 300)  # every page parsed and cached
    path = jsonl(store, chat_id)
    raw = path.read_bytes()
    old = msgs[where].text
    new = "X" * len(old.encode())  # same byte length: same file size
    assert old != new
    before = path.stat()
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(raw.replace(json.dumps(old).encode(), json.dumps(new).encode(), 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == before.st_size and path.stat().st_ino == before.st_ino

    reader = Store(store.root) if fresh else store
    expected = [*msgs[:where], Message(**{**msgs[where].__dict__, "text": new}), *msgs[where + 1:]]
    assert reader.page(chat_id, where, where + 1)[0].text == new
    assert reader.tail(chat_id, 1)[0][0].text == expected[-1].text
    assert_reads(reader, chat_id, expected)


def test_chat_file_replaced_by_a_shorter_one_is_detected(store: Store) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    path = jsonl(store, chat_id)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:120]))  # a hand edit that dropped the rest
    assert store.count(chat_id) == 120
    assert_reads(store, chat_id, msgs[:120])
    assert_reads(Store(store.root), chat_id, msgs[:120])


@pytest.mark.parametrize("fresh", [False, True], ids=["same-store", "new-store"])
def test_torn_tail_is_set_aside(store: Store, fresh: bool) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    path = jsonl(store, chat_id)
    good = path.read_bytes()
    torn = b'{"v":1,"id":"half-written","speaker":"Ada","te'
    with open(path, "ab") as f:
        f.write(torn)

    reader = Store(store.root) if fresh else store
    report = reader.check(chat_id)
    assert len(report.torn) == 1 and report.torn[0].name.startswith("messages.jsonl.torn-")
    assert report.torn[0].read_bytes() == torn
    assert path.read_bytes() == good
    assert reader.tail(chat_id, 3) == (msgs[-3:], 297)
    assert_reads(reader, chat_id, msgs)
    # a message sent afterwards lands on a line of its own
    m = Message.new("Ada", "user", "after the crash")
    reader.append(chat_id, m)
    assert_reads(Store(store.root), chat_id, msgs + [m])


def test_torn_tail_found_by_count_alone(store: Store) -> None:
    chat_id, msgs = new_chat(store, 50)
    opened(store, chat_id)
    with open(jsonl(store, chat_id), "ab") as f:
        f.write(b'{"v":1,"id":"x')
    assert store.count(chat_id) == 50
    assert [p.read_bytes() for p in sides(store, chat_id)] == [b'{"v":1,"id":"x']


@pytest.mark.parametrize("fresh", [False, True], ids=["same-store", "new-store"])
def test_corrupt_middle_line_is_set_aside(store: Store, fresh: bool) -> None:
    chat_id, msgs = new_chat(store, 300)
    opened(store, chat_id)
    path = jsonl(store, chat_id)
    lines = path.read_bytes().splitlines(keepends=True)
    bad = b'{"v":1,"id":"broken", this is not json\n'
    lines[150] = bad
    path.write_bytes(b"".join(lines))

    reader = Store(store.root) if fresh else store
    assert reader.count(chat_id) == 299
    found = sides(store, chat_id)
    assert [p.read_bytes() for p in found] == [bad]
    expected = msgs[:150] + msgs[151:]
    assert reader.page(chat_id, 149, 151) == [msgs[149], msgs[151]]
    assert_reads(reader, chat_id, expected)


def test_corrupt_hand_appended_line_is_set_aside(store: Store) -> None:
    chat_id, msgs = new_chat(store, 30)
    opened(store, chat_id)
    _, good = hand_line("fine", 1)
    bad = b'["not", "a", "message"]\n'
    with open(jsonl(store, chat_id), "ab") as f:
        f.write(bad + good)
    assert store.count(chat_id) == 31
    assert [p.read_bytes() for p in sides(store, chat_id)] == [bad]
    assert store.tail(chat_id, 1)[0][0].text == "fine"


# --- positional reads agree with a full read ------------------------------------

_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ \"\\\n\t é ßẞİiıΣσς€😀")) | st.characters(codec="utf-8"),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(_text, max_size=700),
    cuts=st.lists(st.tuples(st.integers(-5, 800), st.integers(-5, 800)), min_size=1, max_size=6),
    k=st.integers(0, 800),
    query=_text,
)
def test_positional_reads_agree_with_a_full_read(texts, cuts, k, query) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p")
        chat_id = store.new_chat(["mira"], ["Ada"]).id
        msgs = [
            Message(
                f"{i:012x}", "Ada" if i % 2 else "Mira", "user" if i % 2 else "assistant", t, "2026-01-01T00:00:00Z"
            )
            for i, t in enumerate(texts)
        ]
        store.replace_messages(chat_id, msgs)
        full, _ = store.messages(chat_id)
        assert full == msgs
        n = len(full)

        assert store.count(chat_id) == n
        for a, b in cuts:
            lo, hi = max(0, min(a, n)), max(0, min(b, n))
            assert store.page(chat_id, a, b) == full[lo:hi]
        assert store.tail(chat_id, k) == (full[max(0, n - k):] if k else [], max(0, n - k))
        for i in {0, n // 3, n - 1} if n else ():
            assert store.position(chat_id, full[i].id) == i
        assert store.position(chat_id, "no-such-id") is None

        if query.strip():
            pattern = re.compile(re.escape(query), re.IGNORECASE)
            expected = [
                (i, m, spans)
                for i, m in enumerate(full)
                if (spans := [x.span() for x in pattern.finditer(m.text)])
            ]
        else:
            expected = []
        assert store.search_positions(chat_id, query) == expected
        # and a second process reading the index the first one wrote agrees
        store.flush_indexes()
        other = Store(store.root)
        assert other.count(chat_id) == n
        assert other.page(chat_id, 0, n) == full


def test_search_finds_a_hit_however_case_folding_spells_it(store: Store) -> None:
    chat_id = store.new_chat(["mira"], ["Ada"]).id
    for text in ("plain i here", "STRASSE", "Straße", 'a "quoted" word'):
        store.append(chat_id, Message.new("Ada", "user", text))
    full, _ = store.messages(chat_id)
    for query in ("İ", "ß", "sTRAS", '"QUOTED"', "\\"):
        pattern = re.compile(re.escape(query), re.IGNORECASE)
        expected = [i for i, m in enumerate(full) if pattern.search(m.text)]
        assert [p for p, _m, _s in store.search_positions(chat_id, query)] == expected, query


_OPS = st.sampled_from(["append", "hand", "other-append", "flush", "cut-index", "garbage-index", "new-store", "torn"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(_OPS, st.integers(1, 90)), max_size=12), start=st.integers(0, 300))
def test_any_sequence_of_writers_and_damage_reads_right(ops, start) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p")
        chat_id = store.new_chat(["mira"], ["Ada"]).id
        fill_chat(store, chat_id, start)
        model, _ = store.messages(chat_id)
        other = Store(store.root)
        path, index = jsonl(store, chat_id), idx(store, chat_id)
        serial = 0
        for op, n in ops:
            serial += 1
            if op in ("append", "other-append"):
                writer = store if op == "append" else other
                for j in range(n):
                    m = Message.new("Ada", "user", f"op {serial}.{j}")
                    writer.append(chat_id, m)
                    model.append(m)
            elif op == "hand":
                with open(path, "a", encoding="utf-8") as f:
                    for j in range(n):
                        m, line = hand_line(f"hand {serial}.{j}", serial * 1000 + j)
                        f.write(line.decode())
                        model.append(m)
            elif op == "flush":
                store.flush_indexes()
            elif op == "cut-index" and index.exists():
                data = index.read_bytes()
                index.write_bytes(data[: len(data) * n // 100])
            elif op == "garbage-index" and index.exists():
                data = bytearray(index.read_bytes())
                for i in range(HEADER.size, len(data), max(1, n)):
                    data[i] ^= 0x5A
                index.write_bytes(bytes(data))
            elif op == "new-store":
                store = Store(store.root)
            elif op == "torn":
                with open(path, "ab") as f:
                    f.write(b'{"v":1,"id":"torn%d"' % serial)
            total = len(model)
            assert store.count(chat_id) == total
            assert other.tail(chat_id, 3) == (model[-3:], max(0, total - 3))
        assert_reads(store, chat_id, model)
        assert_reads(Store(store.root), chat_id, model)
