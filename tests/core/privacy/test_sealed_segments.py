"""A long line log in an encrypted profile is a sequence of sealed segments.

What is checked here (``tui.core.privacy.sealed_fs`` with ``tui.core.privacy.vault``):

- an append writes a bounded number of bytes whatever the length of the
  chat: measured as the sizes of the files written, not as time;
- reading back gives exactly the lines appended, through ``read_bytes``,
  ``Store`` and its message log (which decrypts only what changed);
- a crash between writing a segment and saving the index loses nothing that
  was acknowledged, and leaves at worst an unnamed file that is swept;
- a whole rewrite replaces every segment; deleting a chat deletes them all;
- an old one-file chat still reads and is cut into segments on its next
  append; an index without segments is still written as version 1;
- the standard ``age`` tool, given the segment order from ``index.age``,
  rebuilds ``messages.jsonl`` (the README's commands, run as written);
- encrypting a plain profile segments its long chats, and decrypting it
  gives back one ordinary ``messages.jsonl``.

The passphrase KDF is the ``fast_kdf`` stand-in; everything else is real age.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pyrage
import pytest
from test_sealed_fs import PW, fs, profile  # noqa: F401 - the same vault fixtures

from tui.core import fsio
from tui.core.privacy import convert as C
from tui.core.privacy import sealed_fs as sealed_mod
from tui.core.privacy import segments as S
from tui.core.privacy import vault as V
from tui.core.privacy.sealed_fs import SealedFS
from tui.core.storage.errors import StoreError
from tui.core.storage.model import Message
from tui.core.storage.store import Store


@pytest.fixture
def no_fsync(monkeypatch):
    """Thousands of appends: durability is not what these tests measure."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def _line(i: int) -> str:
    return json.dumps({"n": i, "text": f"line {i} " + "the rain on the inn's shutters " * 8})


def _disk(profile: Path) -> set[str]:
    return {n for n in os.listdir(profile / V.FILES_DIR) if not n.startswith(".")}


def _index_doc(fs: SealedFS) -> dict:
    return json.loads(pyrage.decrypt((fs.profile_dir / V.INDEX_FILE).read_bytes(), [fs.vault._key()]))


class _Written:
    """Counts the bytes of every file written (data segments and index)."""

    def __init__(self, monkeypatch) -> None:
        self.files: list[tuple[str, int]] = []
        real = fsio.atomic_write

        def counting(path, data):
            self.files.append((Path(path).name, len(data)))
            return real(path, data)

        monkeypatch.setattr(sealed_mod, "atomic_write", counting)
        monkeypatch.setattr(V, "atomic_write", counting)

    def take(self) -> list[tuple[str, int]]:
        out, self.files = self.files, []
        return out


# ----------------------------------------------------------------------------
# cost


def test_bytes_written_per_append_do_not_grow(fs, monkeypatch, no_fsync):
    p = fs.root / "chats/c/messages.jsonl"
    written = _Written(monkeypatch)
    per_append: list[int] = []
    data_files: list[int] = []
    n = 3000
    for i in range(n):
        fsio.append_line(p, _line(i))
        files = written.take()
        per_append.append(sum(size for _name, size in files))
        data_files.append(sum(1 for name, _size in files if name != V.INDEX_FILE))

    assert set(data_files) == {1}  # one segment written per append, never more
    one_segment = S.SEGMENT_LINES  # lines per segment
    early = per_append[one_segment: 2 * one_segment]  # the second segment filling up
    late = per_append[-one_segment:]  # the last full cycle of 3,000
    # the same cycle of work: it must not cost more when the chat is 20x longer
    # (the index grows by one small entry per segment: allow for that, no more)
    index_growth = 120 * (n // one_segment)
    assert statistics.mean(late) <= statistics.mean(early) + index_growth
    assert max(late) <= max(early) + index_growth
    total = len(p.read_bytes())
    assert max(late) < total / 10  # an append is nowhere near a rewrite of the chat
    assert max(per_append) < S.SEGMENT_BYTES + 64 * 1024
    # and everything is there, in order
    assert p.read_bytes() == "".join(_line(i) + "\n" for i in range(n)).encode()
    assert len(fs.segment_files(p.rel)) == -(-n // one_segment)
    assert _disk(fs.profile_dir) == set(fs.segment_files(p.rel))


def test_store_append_in_a_long_chat_writes_one_segment(fs, monkeypatch, no_fsync):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "long")
    store.replace_messages(info.id, [Message.new("You", "user", f"m{i} " + "x" * 200) for i in range(5000)])
    rel = f"chats/{info.id}/messages.jsonl"
    assert len(fs.segment_files(rel)) > 30  # a rewrite is written as segments too
    assert store.count(info.id) == 5000
    written = _Written(monkeypatch)
    store.append(info.id, Message.new("Mara", "assistant", "one more"))
    files = written.take()
    chat_bytes = len((fs.root / rel).read_bytes())
    jsonl = [size for name, size in files if name not in (V.INDEX_FILE,)]
    assert sum(jsonl) < chat_bytes / 10  # chat.toml + the last segment, not the chat
    assert store.count(info.id) == 5001
    assert store.page(info.id, 4999, 5001)[-1].text == "one more"


# ----------------------------------------------------------------------------
# reading back


def test_reading_back_equals_what_was_appended(fs, profile, no_fsync):
    p = fs.root / "log/usage.jsonl"
    lines = [_line(i) + "é" * (i % 5) for i in range(700)]
    for line in lines:
        fsio.append_line(p, line)
    expected = "".join(line + "\n" for line in lines).encode()
    assert p.read_bytes() == expected
    again = SealedFS(V.unlock(profile, PW))  # another opener, from disk
    assert (again.root / "log/usage.jsonl").read_bytes() == expected
    assert p.stat().st_size == sum(os.stat(fs.files_dir / n).st_size for n in fs.segment_files(p.rel))
    doc = _index_doc(fs)
    assert doc["version"] == 2
    segs = doc["segments"]["log/usage.jsonl"]
    assert [s["lines"] for s in segs] == [S.SEGMENT_LINES] * (len(segs))
    assert doc["entries"]["log/usage.jsonl"] == fs.segment_files(p.rel)[-1]


def test_the_message_log_decrypts_only_what_changed(fs, monkeypatch, no_fsync):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    store.replace_messages(info.id, [Message.new("You", "user", f"m{i}") for i in range(1000)])
    assert store.count(info.id) == 1000
    assert [m.text for m in store.page(info.id, 0, 3)] == ["m0", "m1", "m2"]
    reads: list[str] = []
    real = SealedFS.read_segment

    def counting(self, rel, opaque):
        reads.append(opaque)
        return real(self, rel, opaque)

    monkeypatch.setattr(SealedFS, "read_segment", counting)
    for i in range(300):  # across two segment boundaries
        store.append(info.id, Message.new("Mara", "assistant", f"r{i}"))
        assert store.count(info.id) == 1001 + i
        assert len(reads) <= 1  # the last segment only
        reads.clear()
    tail, start = store.tail(info.id, 3)
    assert start == 1297 and [m.text for m in tail] == ["r297", "r298", "r299"]
    assert [m.text for m in store.page(info.id, 998, 1002)] == ["m998", "m999", "r0", "r1"]
    msgs, report = store.messages(info.id)
    assert [m.text for m in msgs] == [f"m{i}" for i in range(1000)] + [f"r{i}" for i in range(300)]
    assert report.torn == []
    # a rewrite from elsewhere (another opener) is seen whole
    other = Store(SealedFS(V.unlock(fs.profile_dir, PW)).root)
    other.delete_from(info.id, msgs[5].id)
    assert store.count(info.id) == 5
    assert [m.text for m in store.page(info.id, 0, 5)] == ["m0", "m1", "m2", "m3", "m4"]


# ----------------------------------------------------------------------------
# crashes


class _Crash(BaseException):
    """A power cut at a chosen step (BaseException: nothing catches it)."""


def test_a_crash_between_segment_and_index_loses_nothing_acknowledged(fs, profile, monkeypatch, no_fsync):
    p = fs.root / "chats/c/messages.jsonl"
    acked = []
    for i in range(S.SEGMENT_LINES):  # exactly one full segment
        fsio.append_line(p, _line(i))
        acked.append(_line(i))
    files_before = _disk(profile)

    def crash(self):
        raise _Crash

    with monkeypatch.context() as m, pytest.raises(_Crash):
        m.setattr(SealedFS, "_save", crash)
        fsio.append_line(p, "never acknowledged")  # a new segment is written, then the crash
    orphans = _disk(profile) - files_before
    assert len(orphans) == 1  # the new segment, which no index names

    after = SealedFS(V.unlock(profile, PW))  # the next start
    q = after.root / "chats/c/messages.jsonl"
    assert q.read_bytes() == "".join(a + "\n" for a in acked).encode()
    fsio.append_line(q, "next")
    assert q.read_text().splitlines() == acked + ["next"]
    for name in orphans:  # once old, the orphan is swept by an open
        t = time.time() - 7200
        os.utime(profile / V.FILES_DIR / name, (t, t))
    SealedFS(V.unlock(profile, PW))
    assert _disk(profile) == set(after.segment_files(q.rel))


@pytest.mark.parametrize("where", ["before-index", "after-index"])
def test_a_crash_during_a_rewrite_leaves_old_or_new(fs, profile, monkeypatch, no_fsync, where):
    p = fs.root / "chats/c/messages.jsonl"
    old = "".join(_line(i) + "\n" for i in range(500)).encode()
    new = "".join(_line(-i) + "\n" for i in range(400)).encode()
    fsio.atomic_write(p, old)
    old_files = set(fs.segment_files(p.rel))
    real_save = SealedFS._save

    def crashing_save(self):
        if where == "after-index":
            real_save(self)
        raise _Crash

    with monkeypatch.context() as m, pytest.raises(_Crash):
        m.setattr(SealedFS, "_save", crashing_save)
        fsio.atomic_write(p, new)
    after = SealedFS(V.unlock(profile, PW))
    got = (after.root / "chats/c/messages.jsonl").read_bytes()
    assert got == (old if where == "before-index" else new)
    if where == "after-index":
        assert not (set(after.segment_files(p.rel)) & old_files)  # all fresh segments


# ----------------------------------------------------------------------------
# rewrite, delete, rename, upgrade


def test_rewrite_delete_and_rename_cover_every_segment(fs, profile, no_fsync):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    for i in range(400):
        store.append(info.id, Message.new("You", "user", f"m{i}"))
    rel = f"chats/{info.id}/messages.jsonl"
    assert len(fs.segment_files(rel)) == 4
    store.replace_messages(info.id, [Message.new("You", "user", "only")])
    assert len(fs.segment_files(rel)) == 1  # short again: one ordinary file
    assert _index_doc(fs)["version"] == 1  # and an index any version reads
    assert _disk(profile) == set(fs.logical_files().values())
    for i in range(300):
        store.append(info.id, Message.new("You", "user", f"n{i}"))
    segs = fs.segment_files(rel)
    fsio.rename(fs.root / "chats" / info.id, fs.root / "chats" / "moved")
    assert fs.segment_files("chats/moved/messages.jsonl") == segs
    fsio.rename(fs.root / "chats" / "moved", fs.root / "chats" / info.id)
    store.delete_chat(info.id)
    assert not (_disk(profile) & set(segs))
    assert _disk(profile) == set(fs.logical_files().values())
    # unlink of one segmented file, and a file moved over a segmented one
    a, b = fs.root / "a.jsonl", fs.root / "b.jsonl"
    for i in range(300):
        fsio.append_line(a, _line(i))
        fsio.append_line(b, _line(-i))
    b_segs = set(fs.segment_files(b.rel))
    fsio.rename(a, b)
    assert not (_disk(profile) & b_segs)
    assert b.read_text().splitlines() == [_line(i) for i in range(300)]
    b.unlink()
    assert _disk(profile) == set(fs.logical_files().values())


def test_an_old_one_file_chat_reads_and_is_segmented_on_its_next_append(fs, profile, no_fsync):
    rel = "chats/c/messages.jsonl"
    old = "".join(_line(i) + "\n" for i in range(1000)).encode()
    with fs._mutating():  # as an older Candlelit stored it: one age file
        fs._check_parent(rel)
        fs._put(rel, fs.vault.encrypt(old))
    single = fs.segment_files(rel)
    assert len(single) == 1 and _index_doc(fs)["version"] == 1
    p = fs.root / rel
    assert p.read_bytes() == old
    fsio.append_line(p, "new")
    assert p.read_bytes() == old + b"new\n"
    assert len(fs.segment_files(rel)) == 8
    assert not (_disk(profile) & set(single))  # the one big file is gone
    assert _disk(profile) == set(fs.segment_files(rel))


def test_a_newer_index_layout_is_refused(fs, profile):
    body = json.dumps({"version": V.INDEX_VERSION + 1, "entries": {}})
    fs.vault.write(profile / V.INDEX_FILE, body)
    with pytest.raises(V.VaultError, match="newer Candlelit"):
        fs.vault.load_layout(profile)


# ----------------------------------------------------------------------------
# the standard age tool


README_SCRIPT = r"""
set -eo pipefail
P="chats/$CHAT/messages.jsonl"
age -d -i <(printf '%s\n' "$KEY") index.age |
  jq -r --arg p "$P" '(.segments[$p] // [] | .[].file), .entries[$p]' |
  while read -r f; do age -d -i <(printf '%s\n' "$KEY") "files/$f"; done > "$OUT"
"""


def test_age_cli_reassembles_a_segmented_chat(fs, profile, tmp_path, no_fsync):
    age, jq, bash = shutil.which("age"), shutil.which("jq"), shutil.which("bash")
    if age is None:
        pytest.skip("the `age` command is not installed; pyrage interop is tested instead")
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    store.replace_messages(info.id, [Message.new("You", "user", f"m{i} é") for i in range(600)])
    for i in range(50):
        store.append(info.id, Message.new("Mara", "assistant", f"r{i}"))
    rel = f"chats/{info.id}/messages.jsonl"
    expected = (fs.root / rel).read_bytes()
    assert len(fs.segment_files(rel)) == 6
    # the identity that `age -d vault.age` prints (here behind the fast KDF stand-in)
    key = V._open_secret((profile / V.KEY_FILE).read_bytes(), PW).decode()
    ident = tmp_path / "identity.txt"
    ident.write_text(key)
    # 1. segment by segment, in the index's order
    index = json.loads(subprocess.run(
        [age, "-d", "-i", str(ident), str(profile / V.INDEX_FILE)], capture_output=True, check=True
    ).stdout)
    order = [s["file"] for s in index["segments"][rel]] + [index["entries"][rel]]
    assert order == fs.segment_files(rel)
    joined = b"".join(
        subprocess.run([age, "-d", "-i", str(ident), str(profile / V.FILES_DIR / name)],
                       capture_output=True, check=True).stdout
        for name in order
    )
    assert joined == expected
    # 2. the README's commands, as written
    if jq is None or bash is None:
        pytest.skip("jq or bash is not installed: the README's pipeline was not run")
    out = tmp_path / "messages.jsonl"
    env = {**os.environ, "KEY": key, "CHAT": info.id, "OUT": str(out)}
    subprocess.run([bash, "-c", README_SCRIPT], cwd=profile, env=env, check=True)
    assert out.read_bytes() == expected
    # and for a short file (one segment) the same commands work
    short = store.new_chat(["mara"], ["You"], "short")
    store.append(short.id, Message.new("You", "user", "hello"))
    env["CHAT"] = short.id
    subprocess.run([bash, "-c", README_SCRIPT], cwd=profile, env=env, check=True)
    assert out.read_bytes() == (fs.root / f"chats/{short.id}/messages.jsonl").read_bytes()


# ----------------------------------------------------------------------------
# converting a profile


def test_encrypt_then_decrypt_a_profile_with_a_long_chat(tmp_path, fast_kdf, no_fsync):
    home = tmp_path / "prof"
    plain = Store(home)
    info = plain.new_chat(["mara"], ["You"], "long")
    plain.replace_messages(info.id, [Message.new("You", "user", f"m{i}") for i in range(1000)])
    rel = f"chats/{info.id}/messages.jsonl"
    original = (home / rel).read_bytes()
    other_files = {
        p.relative_to(home).as_posix(): p.read_bytes()
        for p in home.rglob("*") if p.is_file() and p.name != "messages.jsonl"
    }

    C.encrypt_tree(home, PW).lock()
    fs = SealedFS(V.unlock(home, PW))
    segs = fs.segment_files(rel)
    assert len(segs) == 8  # 1,000 lines: cut into segments as it is encrypted
    assert (fs.root / rel).read_bytes() == original
    sealed = Store(fs.root)
    assert sealed.count(info.id) == 1000
    for i in range(200):
        sealed.append(info.id, Message.new("Mara", "assistant", f"r{i}"))
    after_appends = (fs.root / rel).read_bytes()
    assert after_appends.startswith(original)
    assert _disk(home) == set(fs.logical_files().values()) | {
        s for k in fs.logical_files() for s in fs.segment_files(k)
    }
    fs.lock()

    C.decrypt_tree(home, PW)
    assert not (home / V.META_FILE).exists() and not (home / V.FILES_DIR).exists()
    assert not (home / V.UNINDEXED_DIR).exists()  # every segment was accounted for
    assert (home / rel).read_bytes() == after_appends  # one ordinary file again
    msgs, report = Store(home).messages(info.id)
    assert len(msgs) == 1200 and report.torn == []
    for name, data in other_files.items():
        if name.endswith("chat.toml"):
            continue  # rewritten by each append (its "updated" time)
        assert (home / name).read_bytes() == data


def test_a_missing_segment_is_damage_not_an_empty_chat(fs, no_fsync):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    store.replace_messages(info.id, [Message.new("You", "user", f"m{i}") for i in range(300)])
    rel = f"chats/{info.id}/messages.jsonl"
    first = fs.segment_files(rel)[0]
    (fs.files_dir / first).unlink()
    with pytest.raises(sealed_mod.SealedFileDamaged, match="segment"):
        (fs.root / rel).read_bytes()
    with pytest.raises(StoreError, match="segment"):
        Store(fs.root).messages(info.id)
