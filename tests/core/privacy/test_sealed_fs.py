"""Behaviour of tui.core.privacy.sealed_fs: an encrypted profile seen as a folder tree.

What is checked here:

- ``SealedPath`` behaves like ``pathlib.Path`` for the part of it the storage
  modules use (most checks run the same steps on a plain folder and on a
  sealed one and compare), and refuses to be handed to ``open()``/``os``;
- the ``tui.core.fsio`` primitives dispatch on it;
- an encrypted profile written through the real storage modules holds no
  plain byte of what was written, and no name that says what a file is;
- the files are standard age files (pyrage reads them with the profile key);
- crash leftovers, two openers, damaged files, a locked profile and a wrong
  passphrase behave as the module promises.

Every test uses the ``fast_kdf`` stand-in for the passphrase KDF (the real
scrypt is covered in test_vault.py); everything after unlocking is real age.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import pyrage
import pytest
from pyrage import x25519

from tui.core import fsio
from tui.core import paths as tui_paths
from tui.core.config.settings import Config
from tui.core.memory import document as memory
from tui.core.privacy import vault as V
from tui.core.privacy.sealed_fs import SealedFileDamaged, SealedFS, SealedLocked
from tui.core.privacy.sealed_path import SealedPath
from tui.core.profile import profiles, usage_stats
from tui.core.profile.workspace import Workspace
from tui.core.scene import ideas
from tui.core.storage.errors import StoreError
from tui.core.storage.model import Message
from tui.core.storage.store import Store

PW = "correct horse battery staple"
OPAQUE = re.compile(r"^[0-9a-f]{32}\.age$")
VAULT_FILES = {V.KEY_FILE, V.META_FILE, V.INDEX_FILE, "index.lock"}


@pytest.fixture
def profile(tmp_path, fast_kdf) -> Path:
    d = tmp_path / "p"
    V.create_vault(d, PW).lock()
    return d


@pytest.fixture
def fs(profile) -> SealedFS:
    return SealedFS(V.unlock(profile, PW))


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every file and folder under ``root``: bytes (None for a folder), mtime_ns, mode."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = os.lstat(full)
            data = None if stat.S_ISDIR(st.st_mode) else full.read_bytes()
            out[full.relative_to(root).as_posix()] = (data, st.st_mtime_ns, st.st_mode)
    return out


def disk_files(profile: Path) -> list[str]:
    return sorted(os.listdir(profile / V.FILES_DIR))


def age_of(fs: SealedFS, rel: str) -> Path:
    return fs.files_dir / fs.logical_files()[rel]


def set_old(path: Path, seconds: float = 7200) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


# ----------------------------------------------------------------------------
# 1. SealedPath against pathlib


@pytest.fixture
def twin(tmp_path, fs):
    """The same tree built in a plain folder and in the sealed profile."""
    plain = tmp_path / "plain"
    plain.mkdir()
    tree = {
        "x.json": b"{}",
        "y.toml": b"a = 1\n",
        ".hidden": b"dot",
        "sub/inner.json": b"[1]",
        "sub/deeper/z.txt": b"z",
        ".dotdir/w.json": b"w",
    }
    for rel, data in tree.items():
        (plain / rel).parent.mkdir(parents=True, exist_ok=True)
        (plain / rel).write_bytes(data)
        fsio.atomic_write(fs.root / rel, data)
    (plain / "empty").mkdir()
    (fs.root / "empty").mkdir()
    return plain, fs.root


def test_write_read_round_trip(fs):
    every_byte = bytes(range(256)) * 4
    p = fs.root / "bin.dat"
    assert p.write_bytes(every_byte) == len(every_byte)
    assert p.read_bytes() == every_byte
    t = fs.root / "t.md"
    t.write_text("Ünïcødé — 🕯️ candle\nline 2\n")
    assert t.read_text() == "Ünïcødé — 🕯️ candle\nline 2\n"
    t.write_text("short")  # an overwrite replaces, it does not merge
    assert t.read_bytes() == b"short"
    (fs.root / "empty.txt").write_bytes(b"")
    assert (fs.root / "empty.txt").read_bytes() == b""
    assert (fs.root / "empty.txt").is_file()


def test_a_reopened_profile_reads_what_was_written(profile, fs):
    (fs.root / "chats/c1/messages.jsonl").write_bytes(b"one\n")
    (fs.root / "keep-me-empty").mkdir()
    again = SealedFS(V.unlock(profile, PW))
    assert (again.root / "chats/c1/messages.jsonl").read_bytes() == b"one\n"
    assert (again.root / "keep-me-empty").is_dir()  # an empty folder survives in the index
    assert [p.name for p in (again.root / "keep-me-empty").iterdir()] == []


def test_nested_write_makes_its_folders(fs):
    p = fs.root / "a" / "b" / "c.txt"
    p.write_bytes(b"deep")
    assert (fs.root / "a").is_dir() and (fs.root / "a/b").is_dir()
    assert not (fs.root / "a").is_file()
    assert [c.name for c in (fs.root / "a").iterdir()] == ["b"]
    assert [c.name for c in (fs.root / "a/b").iterdir()] == ["c.txt"]
    with pytest.raises(NotADirectoryError):  # a file cannot hold a file
        (fs.root / "a/b/c.txt/d").write_bytes(b"no")
    with pytest.raises(IsADirectoryError):  # nor can a folder be overwritten by one
        (fs.root / "a/b").write_bytes(b"no")
    with pytest.raises(IsADirectoryError):
        (fs.root / "a").read_bytes()


def _names(paths) -> list[str]:
    return sorted(p.name for p in paths)


@pytest.mark.parametrize("folder", ["", "sub", ".dotdir", "empty"])
def test_iterdir_matches_pathlib(twin, folder):
    plain, sealed = twin
    assert _names((sealed / folder if folder else sealed).iterdir()) == _names(
        (plain / folder if folder else plain).iterdir()
    )


def test_iterdir_lists_dotfiles_one_level_only(twin):
    _plain, sealed = twin
    assert _names(sealed.iterdir()) == [".dotdir", ".hidden", "empty", "sub", "x.json", "y.toml"]
    assert all(isinstance(p, SealedPath) and p.parent == sealed for p in sealed.iterdir())


@pytest.mark.parametrize("pattern", ["*", "*.json", ".*", "?.toml", "sub", "nothing*", "[xy].*"])
@pytest.mark.parametrize("folder", ["", "sub"])
def test_glob_matches_pathlib(twin, pattern, folder):
    plain, sealed = twin
    s = sealed / folder if folder else sealed
    p = plain / folder if folder else plain
    assert _names(s.glob(pattern)) == _names(p.glob(pattern))


def test_glob_edges(twin):
    plain, sealed = twin
    assert list((sealed / "missing").glob("*")) == list((plain / "missing").glob("*")) == []
    assert list((sealed / "x.json").glob("*")) == []
    with pytest.raises(ValueError):
        list(sealed.glob("**/*.json"))
    with pytest.raises(ValueError):
        list(sealed.glob("sub/*.json"))


def test_iterdir_errors_match_pathlib(twin):
    plain, sealed = twin
    for p in (plain, sealed):
        with pytest.raises(FileNotFoundError):
            list((p / "missing").iterdir())
        with pytest.raises(NotADirectoryError):
            list((p / "x.json").iterdir())


@pytest.mark.parametrize(
    "rel", ["", "x.json", ".hidden", "sub", "sub/deeper", "sub/deeper/z.txt", "empty", "missing", "sub/missing"]
)
def test_exists_is_file_is_dir_match_pathlib(twin, rel):
    plain, sealed = twin
    s = sealed / rel if rel else sealed
    p = plain / rel if rel else plain
    assert (s.exists(), s.is_file(), s.is_dir()) == (p.exists(), p.is_file(), p.is_dir())


def test_unlink_matches_pathlib(twin, fs):
    plain, sealed = twin
    before = disk_files(fs.profile_dir)
    gone = fs.logical_files()["x.json"]
    for root in (plain, sealed):
        (root / "x.json").unlink()
        assert not (root / "x.json").exists()
        with pytest.raises(FileNotFoundError):
            (root / "x.json").unlink()
        (root / "x.json").unlink(missing_ok=True)  # no error
        with pytest.raises(IsADirectoryError):
            (root / "sub").unlink()
        with pytest.raises(IsADirectoryError):  # missing_ok does not hide a folder
            (root / "sub").unlink(missing_ok=True)
        assert (root / "sub/inner.json").is_file()
    assert disk_files(fs.profile_dir) == sorted(set(before) - {gone})  # its bytes are gone too


def test_mkdir_matches_pathlib(twin):
    plain, sealed = twin
    for root in (plain, sealed):
        (root / "new").mkdir()
        assert (root / "new").is_dir()
        with pytest.raises(FileExistsError):
            (root / "new").mkdir()
        (root / "new").mkdir(exist_ok=True)
        with pytest.raises(FileNotFoundError):
            (root / "a/b/c").mkdir()
        assert not (root / "a").exists()
        (root / "a/b/c").mkdir(parents=True)
        assert (root / "a").is_dir() and (root / "a/b/c").is_dir()
        (root / "a/b/c").mkdir(parents=True, exist_ok=True)
        with pytest.raises(FileExistsError):  # a file has that name
            (root / "x.json").mkdir()
        with pytest.raises(FileExistsError):
            (root / "x.json").mkdir(exist_ok=True)
        with pytest.raises(NotADirectoryError):
            (root / "x.json/sub").mkdir()
        assert _names((root / "a").iterdir()) == ["b"]


def test_rename_file_replaces_the_target(twin, fs):
    plain, sealed = twin
    replaced = fs.logical_files()["y.toml"]
    for root in (plain, sealed):
        target = (root / "x.json").rename(root / "y.toml")
        assert target == root / "y.toml"
        assert (root / "y.toml").read_bytes() == b"{}"
        assert not (root / "x.json").exists()
    assert replaced not in disk_files(fs.profile_dir)  # the replaced bytes went with it


def test_rename_onto_itself_changes_nothing(twin, fs):
    plain, sealed = twin
    for root in (plain, sealed):
        (root / "x.json").rename(root / "x.json")
        assert (root / "x.json").read_bytes() == b"{}"
        (root / "sub").rename(root / "sub")
        assert (root / "sub/inner.json").read_bytes() == b"[1]"
    assert fs.logical_files()["x.json"] in disk_files(fs.profile_dir)


def test_rename_folder_moves_its_children(twin, fs):
    plain, sealed = twin
    before = fs.logical_files()
    for root in (plain, sealed):
        (root / "sub").rename(root / "moved")
        assert not (root / "sub").exists()
        assert (root / "moved/inner.json").read_bytes() == b"[1]"
        assert (root / "moved/deeper/z.txt").read_bytes() == b"z"
        assert (root / "moved/deeper").is_dir()
        (root / "moved").rename(root / "empty")  # onto an empty folder: allowed
        assert (root / "empty/deeper/z.txt").read_bytes() == b"z"
        with pytest.raises(OSError) as exc:  # onto a folder with things in it: refused
            (root / "empty").rename(root / ".dotdir")
        assert exc.value.errno in (errno.ENOTEMPTY, errno.EEXIST)
        with pytest.raises(OSError) as exc:
            (root / "empty").rename(root / "empty/deeper/inside")
        assert exc.value.errno == errno.EINVAL
        assert (root / "empty/deeper/z.txt").read_bytes() == b"z"
    after = fs.logical_files()
    # only the index changed: the same encrypted files under new names
    assert after["empty/inner.json"] == before["sub/inner.json"]
    assert after["empty/deeper/z.txt"] == before["sub/deeper/z.txt"]


def test_rename_refuses_another_profile(tmp_path, fs, fast_kdf):
    other = SealedFS(V.create_vault(tmp_path / "other", "pw2"))
    (fs.root / "a").write_bytes(b"a")
    with pytest.raises(ValueError):
        (fs.root / "a").rename(other.root / "a")
    with pytest.raises(ValueError):
        (fs.root / "a").rename(tmp_path / "plain-a")  # type: ignore[arg-type]
    assert not (tmp_path / "plain-a").exists()
    assert (fs.root / "a").read_bytes() == b"a"


def test_remove_tree(twin, fs):
    _plain, sealed = twin
    doomed = {v for k, v in fs.logical_files().items() if k.startswith("sub/")}
    assert len(doomed) == 2
    sealed.joinpath("sub").remove_tree()
    assert not (sealed / "sub").exists()
    assert not (sealed / "sub/deeper/z.txt").exists()
    assert "sub" not in _names(sealed.iterdir())
    assert not doomed & set(disk_files(fs.profile_dir))
    (sealed / "missing").remove_tree()  # absent is fine
    (sealed / "x.json").remove_tree()  # one file is fine
    assert not (sealed / "x.json").exists()
    assert (sealed / "y.toml").read_bytes() == b"a = 1\n"


def test_stat_mtime_of_files_and_folders(fs):
    a, b = fs.root / "d/a.txt", fs.root / "d/e/b.txt"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    set_old(age_of(fs, "d/a.txt"), 600)
    set_old(age_of(fs, "d/e/b.txt"), 300)
    st_a, st_b = a.stat(), b.stat()
    assert st_a.st_mtime == pytest.approx(os.stat(age_of(fs, "d/a.txt")).st_mtime)
    assert st_a.st_mtime_ns == os.stat(age_of(fs, "d/a.txt")).st_mtime_ns
    assert st_a.st_mtime < st_b.st_mtime < time.time()
    assert stat.S_ISREG(st_a.st_mode) and stat.S_ISDIR((fs.root / "d").stat().st_mode)
    # a folder is as new as the newest file anywhere under it
    assert (fs.root / "d").stat().st_mtime_ns == st_b.st_mtime_ns
    assert (fs.root / "d/e").stat().st_mtime_ns == st_b.st_mtime_ns
    a.write_bytes(b"a again")
    assert a.stat().st_mtime > st_b.st_mtime
    assert (fs.root / "d").stat().st_mtime_ns == a.stat().st_mtime_ns
    with pytest.raises(FileNotFoundError):
        (fs.root / "d/missing").stat()


@pytest.mark.parametrize("rel", ["chat.toml", "chats/c1/messages.jsonl", "a/b.tar.gz", "a/.hidden", "noext"])
def test_pure_path_parts_match_pathlib(fs, rel):
    s, p = fs.root / rel, PurePosixPath(rel)
    assert (s.name, s.stem, s.suffix) == (p.name, p.stem, p.suffix)
    assert s.parent.rel == ("" if str(p.parent) == "." else str(p.parent))
    assert s.with_name("other.x").rel == str(p.with_name("other.x"))
    assert s.with_suffix(".bak").rel == str(p.with_suffix(".bak"))
    assert s.parts == p.parts
    assert s.relative_to(fs.root) == p
    assert str(s) == str(fs.profile_dir / rel)  # shown as where it would be, for messages


def test_root_and_joining(fs):
    root = fs.root
    assert root.name == "" and root.parent == root and root.rel == ""
    assert root / "a" / "b" == root.joinpath("a", "b") == root / "a/b"
    assert root / "a//b/" == root / "a/b"
    assert hash(root / "a") == hash(fs.root / "a")
    with pytest.raises(ValueError):
        root.with_name("x")
    with pytest.raises(ValueError):
        (root / "a").with_name("b/c")
    with pytest.raises(ValueError):
        (root / "a").relative_to(root / "b")


@pytest.mark.parametrize("bad", ["..", "../x", "a/../b", "a/..", "a/b/../../.."])
def test_dotdot_is_refused(fs, bad):
    with pytest.raises(ValueError):
        fs.root / bad
    with pytest.raises(ValueError):
        SealedPath(fs, bad)


def test_absolute_join_is_refused(fs):
    with pytest.raises(ValueError):
        fs.root / "/etc/passwd"
    with pytest.raises(TypeError):
        fs.root / Path("x")  # type: ignore[operator]


def test_a_sealed_path_never_becomes_a_plain_file(fs):
    p = fs.root / "secret.txt"
    p.write_bytes(b"x")
    before = snapshot(fs.profile_dir)
    with pytest.raises(TypeError):
        open(p, "w")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        os.fspath(p)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        os.stat(p)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Path(p)  # type: ignore[arg-type]
    assert snapshot(fs.profile_dir) == before
    assert not (fs.profile_dir / "secret.txt").exists()


# ----------------------------------------------------------------------------
# 2. fsio dispatch


def test_fsio_recognises_sealed_paths(fs, tmp_path):
    assert fsio.is_sealed(fs.root / "a") and not fsio.is_sealed(tmp_path / "a")
    assert not fsio.is_sealed("a") and not fsio.is_sealed(None)
    assert fsio.as_path(fs.root / "a") == fs.root / "a"
    assert fsio.as_path(str(tmp_path)) == tmp_path


def test_fsio_atomic_write(fs):
    p = fs.root / "chats/c/chat.toml"
    fsio.atomic_write(p, 'title = "Ünï"\n')
    assert p.read_text() == 'title = "Ünï"\n'
    fsio.atomic_write(p, b"v = 2\n")
    assert p.read_bytes() == b"v = 2\n"
    assert len(fs.logical_files()) == 1  # rewritten in place, not a second file
    assert len(disk_files(fs.profile_dir)) == 1
    fsio.fsync_dir(p.parent)  # no-ops on a sealed path
    fsio.secure_file(p)
    assert p.read_bytes() == b"v = 2\n"


def test_fsio_append_line_is_exact_after_many_appends(fs):
    p = fs.root / "chats/c/messages.jsonl"
    lines = [json.dumps({"n": i, "text": "é" * (i % 7) + "x" * i}, ensure_ascii=False) for i in range(150)]
    for line in lines:
        fsio.append_line(p, line)
    assert p.read_bytes() == "".join(line + "\n" for line in lines).encode("utf-8")
    with pytest.raises(ValueError):
        fsio.append_line(p, "two\nlines")
    assert p.read_text().count("\n") == 150  # the refused line left nothing
    # 150 lines: two segments (128 + 22), and nothing else on disk
    assert sorted(fs.segment_files(p.rel)) == disk_files(fs.profile_dir)
    assert len(disk_files(fs.profile_dir)) == 2


def test_fsio_ensure_dir(fs):
    d = fs.root / "characters/mara/assets"
    assert fsio.ensure_dir(d) == d
    assert d.is_dir() and (fs.root / "characters").is_dir()
    assert fsio.ensure_dir(d) == d  # again: fine
    assert disk_files(fs.profile_dir) == []  # folders live in the index only


def test_fsio_rename_and_remove_tree(fs):
    fsio.atomic_write(fs.root / "chats/.new-c/chat.toml", b"t")
    fsio.atomic_write(fs.root / "chats/.new-c/messages.jsonl", b"m\n")
    fsio.rename(fs.root / "chats/.new-c", fs.root / "chats/c")
    assert (fs.root / "chats/c/chat.toml").read_bytes() == b"t"
    assert not (fs.root / "chats/.new-c").exists()
    fsio.rename(fs.root / "chats/c/chat.toml", fs.root / "chats/c/chat.old")
    assert (fs.root / "chats/c/chat.old").read_bytes() == b"t"
    fsio.remove_tree(fs.root / "chats/c")
    assert not (fs.root / "chats/c").exists()
    assert (fs.root / "chats").is_dir()
    assert disk_files(fs.profile_dir) == []
    fsio.remove_tree(fs.root / "chats/c")  # already gone: fine


# ----------------------------------------------------------------------------
# 3. nothing plain on disk

MARKER = "Zq7-candle-MARKER-4711"


def _sealed_workspace() -> tuple[Workspace, Path]:
    """A Workspace on a new encrypted profile (the ``home`` fixture sets the folders)."""
    paths = tui_paths.resolve()
    config = Config()
    plain = Workspace(paths, config)
    V.create_vault(plain.profile_dir, PW).lock()
    locked = Workspace(paths, config)
    assert locked.encrypted and locked.locked
    ws = locked.unlocked(V.unlock(plain.profile_dir, PW))
    assert ws.encrypted and not ws.locked
    assert isinstance(ws.store.root, SealedPath)
    return ws, plain.profile_dir


def test_an_encrypted_profile_holds_no_plain_bytes(home, fast_kdf):
    ws, profile_dir = _sealed_workspace()
    slug = ws.cards()[0].slug
    info = ws.new_chat(slug, title=f"Title {MARKER}")
    for i in range(5):
        ws.store.append(info.id, Message.new("You", "user", f"line {i} {MARKER}"))
    memory.save_memory(
        info.path, memory.Memory(summary=f"summary {MARKER}", facts=[memory.Fact(f"fact {MARKER}")])
    )
    ideas.save_idea(ws.store.root, f"an idea about {MARKER}", [f"theme {MARKER}"])
    start = datetime.now(UTC) - timedelta(minutes=30)
    usage_stats.record_session(profiles.usage_file(ws.store.root), start, start + timedelta(minutes=20), 5)
    profile = ws.store.load_profile({"name": f"persona {MARKER}"})
    ws.store.save_profile(profile)

    # everything reads back through the sealed layer ...
    msgs, _ = ws.store.messages(info.id)
    assert sum(MARKER in m.text for m in msgs) == 5
    assert ws.store.chat(info.id).title == f"Title {MARKER}"
    assert MARKER in memory.load_memory(info.path).summary
    assert [i.text for i in ideas.load_ideas(ws.store.root)] == [f"an idea about {MARKER}"]
    assert len(usage_stats.daily(profiles.usage_file(ws.store.root))) >= 1
    logical = set(ws.sealed.logical_files())
    assert {f"chats/{info.id}/messages.jsonl", f"chats/{info.id}/chat.toml",
            f"chats/{info.id}/memory.md", "ideas.toml", "usage.jsonl", "profile.toml",
            f"characters/{slug}/card.json"} <= logical

    # ... and the disk holds only the vault files and opaque age files
    top = set(os.listdir(profile_dir))
    assert top <= VAULT_FILES | {V.FILES_DIR}
    assert {V.KEY_FILE, V.META_FILE, V.INDEX_FILE, V.FILES_DIR} <= top
    names = os.listdir(profile_dir / V.FILES_DIR)
    assert len(names) == len(logical)
    assert all(OPAQUE.fullmatch(n) for n in names), names
    for entry in (profile_dir / V.FILES_DIR).iterdir():
        assert entry.is_file() and not entry.is_symlink()
        assert entry.read_bytes().startswith(b"age-encryption.org/v1\n")
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((profile_dir / V.FILES_DIR).stat().st_mode) == 0o700
    needles = [MARKER.encode(), info.id.encode(), b"messages.jsonl", b"memory.md", slug.encode()]
    for dirpath, _dirs, files in os.walk(home):  # the whole home, not only the profile
        for name in files:
            data = (Path(dirpath) / name).read_bytes()
            for needle in needles:
                assert needle not in data, f"{needle!r} found in plain in {dirpath}/{name}"
            assert MARKER not in name and info.id not in name


# ----------------------------------------------------------------------------
# 4. interop with standard age


def test_files_are_standard_age_to_the_profile_key(fs, profile):
    payload = f"hello {MARKER}\n".encode() * 50
    (fs.root / "chats/c/messages.jsonl").write_bytes(payload)
    (fs.root / "chats/c/empty-folder").mkdir()
    opaque = fs.logical_files()["chats/c/messages.jsonl"]
    assert OPAQUE.fullmatch(opaque)
    identity = fs.vault._key()
    assert pyrage.decrypt((profile / V.FILES_DIR / opaque).read_bytes(), [identity]) == payload

    # the identity in vault.age (here behind the fast KDF stand-in) is the same key
    secret = V._open_secret((profile / V.KEY_FILE).read_bytes(), PW)
    parsed = V._parse_identity(secret)
    assert pyrage.decrypt((profile / V.FILES_DIR / opaque).read_bytes(), [parsed]) == payload

    doc = json.loads(pyrage.decrypt((profile / V.INDEX_FILE).read_bytes(), [identity]))
    assert doc["entries"]["chats/c/messages.jsonl"] == opaque
    assert doc["entries"]["chats/c/empty-folder/"] == ""

    # a foreign key opens nothing
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt((profile / V.FILES_DIR / opaque).read_bytes(), [x25519.Identity.generate()])


def test_a_file_encrypted_by_standard_age_is_read(fs, profile):
    """The other direction: age output placed under the index's name reads back."""
    (fs.root / "notes.txt").write_bytes(b"old")
    blob = pyrage.encrypt(b"written by age", [x25519.Recipient.from_str(fs.vault.recipient)])
    (profile / V.FILES_DIR / fs.logical_files()["notes.txt"]).write_bytes(blob)
    assert (fs.root / "notes.txt").read_bytes() == b"written by age"


# ----------------------------------------------------------------------------
# 5. crash ordering


def _orphan(fs: SealedFS, name: str | None = None) -> Path:
    """An encrypted file no index entry names (a crash between file and index)."""
    path = fs.files_dir / (name or (os.urandom(16).hex() + ".age"))
    path.write_bytes(fs.vault.encrypt(b"orphan " + MARKER.encode()))
    return path


def test_an_orphan_file_is_ignored_and_swept_only_when_old(fs, profile):
    (fs.root / "a.txt").write_bytes(b"kept")
    set_old(age_of(fs, "a.txt"))  # old but named: never swept
    fresh, old = _orphan(fs), _orphan(fs)
    set_old(old)
    torn_tmp = fs.files_dir / ".0123.age.abcd.tmp"  # an atomic write a crash interrupted
    torn_tmp.write_bytes(b"half")
    set_old(torn_tmp)

    assert _names(fs.root.iterdir()) == ["a.txt"]  # orphans are invisible
    assert set(fs.logical_files()) == {"a.txt"}

    again = SealedFS(V.unlock(profile, PW))  # opening sweeps
    assert fresh.exists()  # it may belong to a write in progress elsewhere
    assert not old.exists() and not torn_tmp.exists()
    assert (again.root / "a.txt").read_bytes() == b"kept"
    assert _names(again.root.iterdir()) == ["a.txt"]


def test_an_index_entry_without_its_file_reads_as_absent(fs):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    store.append(info.id, Message.new("You", "user", "hi"))
    age_of(fs, f"chats/{info.id}/messages.jsonl").unlink()  # the file went, the entry stayed
    p = fs.root / "chats" / info.id / "messages.jsonl"
    assert not p.is_file() and not p.exists()
    with pytest.raises(FileNotFoundError) as exc:
        p.read_bytes()
    assert exc.value.filename == str(p)  # named by what it is, not by its opaque name
    msgs, report = store.messages(info.id)
    assert msgs == [] and report.torn == []
    store.append(info.id, Message.new("You", "user", "again"))  # and it can be written anew
    msgs, _ = store.messages(info.id)
    assert [m.text for m in msgs] == ["again"]


def test_a_lost_index_does_not_wipe_the_files(fs, profile):
    (fs.root / "chats/c/messages.jsonl").write_bytes(b"precious")
    for f in fs.files_dir.iterdir():
        set_old(f)
    (profile / V.INDEX_FILE).unlink()
    before = snapshot(profile)
    with pytest.raises(V.VaultError, match="index.age is missing"):
        SealedFS(V.unlock(profile, PW))
    with pytest.raises(V.VaultError, match="index.age is missing"):
        (fs.root / "new.txt").write_bytes(b"x")  # an open one will not start over either
    assert snapshot(profile) == before


# ----------------------------------------------------------------------------
# 6. two openers of one profile


def test_two_openers_see_each_others_changes(profile, fs):
    other = SealedFS(V.unlock(profile, PW))
    a, b = Store(fs.root), Store(other.root)
    info = a.new_chat(["mara"], ["You"], "shared")
    assert [c.id for c in b.list_chats()] == [info.id]
    for i in range(20):
        (a if i % 2 == 0 else b).append(info.id, Message.new("You", "user", f"m{i}"))
    for store in (a, b):
        msgs, _ = store.messages(info.id)
        assert [m.text for m in msgs] == [f"m{i}" for i in range(20)]
    second = b.new_chat(["mara"], ["You"], "from b")
    assert {c.id for c in a.list_chats()} == {info.id, second.id}
    a.delete_chat(second.id)
    assert [c.id for c in b.list_chats()] == [info.id]
    assert sorted(disk_files(profile)) == sorted(other.logical_files().values())


def _append_worker(profile: str, tag: str, n: int) -> None:
    fs = SealedFS(V.unlock(Path(profile), PW))
    for i in range(n):
        fsio.append_line(fs.root / "shared/log.jsonl", f"{tag}{i}")


def test_appends_from_two_processes_are_not_lost(profile, fs):
    ctx = multiprocessing.get_context("fork")  # the children keep the fast KDF stand-in
    n = 25
    procs = [ctx.Process(target=_append_worker, args=(str(profile), tag, n)) for tag in "AB"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = (fs.root / "shared/log.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted([f"A{i}" for i in range(n)] + [f"B{i}" for i in range(n)])
    for tag in "AB":  # each writer's lines in its own order
        assert [x for x in lines if x[0] == tag] == [f"{tag}{i}" for i in range(n)]
    assert len(disk_files(profile)) == 1


# ----------------------------------------------------------------------------
# 7. damaged files


def _flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "cut", "header"])
def test_a_damaged_file_raises_and_returns_nothing(fs, damage):
    p = fs.root / "chats/c/memory.md"
    p.write_bytes(b"x" * 5000)
    disk = age_of(fs, "chats/c/memory.md")
    if damage == "flip":
        _flip(disk)
    elif damage == "cut":
        disk.write_bytes(disk.read_bytes()[:-100])
    else:
        _flip(disk, 0)
    with pytest.raises(SealedFileDamaged) as exc:
        p.read_bytes()
    assert isinstance(exc.value, OSError)
    message = str(exc.value)
    assert "chats/c/memory.md" in message
    assert "changed or" in message or "not an age file" in message
    assert p.is_file()  # it is still there to be looked at


def test_store_reports_a_damaged_chat_and_leaves_it_alone(fs):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    for i in range(3):
        store.append(info.id, Message.new("You", "user", f"m{i}"))
    disk = age_of(fs, f"chats/{info.id}/messages.jsonl")
    _flip(disk)
    damaged = disk.read_bytes()
    index_before = fs.logical_files()
    with pytest.raises(StoreError) as exc:
        store.messages(info.id)
    assert info.id in str(exc.value)
    assert "could not be decrypted" in str(exc.value)
    with pytest.raises(OSError):
        store.append(info.id, Message.new("You", "user", "must not replace the damaged file"))
    assert disk.read_bytes() == damaged  # not rewritten, not "repaired"
    assert fs.logical_files() == index_before  # no torn side file either
    assert [c.id for c in store.list_chats()] == [info.id]  # chat.toml is intact


def test_a_damaged_index_is_a_clear_error(fs, profile):
    (fs.root / "a.txt").write_bytes(b"a")
    _flip(profile / V.INDEX_FILE)
    os.utime(profile / V.INDEX_FILE, (1_000_000_000, 1_000_000_000))  # a stamp the open fs has not seen
    before = snapshot(profile)
    with pytest.raises(V.TamperedFile, match="index.age"):
        SealedFS(V.unlock(profile, PW))
    with pytest.raises(V.TamperedFile, match="index.age"):
        (fs.root / "a.txt").is_file()
    with pytest.raises(V.TamperedFile, match="index.age"):
        (fs.root / "b.txt").write_bytes(b"b")  # must not write a fresh index over it
    assert snapshot(profile) == before


# ----------------------------------------------------------------------------
# 8. locked


def _assert_locked(root: SealedPath) -> None:
    for rel in ("", "a.txt", "d"):
        p = root / rel if rel else root
        assert (p.exists(), p.is_file(), p.is_dir()) == (False, False, False)
    with pytest.raises(SealedLocked) as exc:
        (root / "a.txt").read_bytes()
    assert isinstance(exc.value, PermissionError)
    assert "locked" in str(exc.value)
    for act in (
        lambda: (root / "a.txt").read_text(),
        lambda: (root / "a.txt").write_bytes(b"x"),
        lambda: (root / "new.txt").write_text("x"),
        lambda: fsio.atomic_write(root / "new.txt", b"x"),
        lambda: fsio.append_line(root / "new.jsonl", "x"),
        lambda: fsio.ensure_dir(root / "newdir"),
        lambda: (root / "a.txt").unlink(missing_ok=True),
        lambda: (root / "d").mkdir(exist_ok=True),
        lambda: (root / "a.txt").stat(),
        lambda: list(root.iterdir()),
        lambda: (root / "a.txt").rename(root / "b.txt"),
        lambda: fsio.remove_tree(root / "d"),
        lambda: root.fs.logical_files(),
    ):
        with pytest.raises(SealedLocked):
            act()
    assert list(root.glob("*")) == []


def test_a_locked_profile_reads_and_writes_nothing(fs, profile):
    (fs.root / "a.txt").write_bytes(b"a")
    (fs.root / "d/x").write_bytes(b"x")
    before = snapshot(profile)
    locked = SealedFS(None, profile)
    assert locked.locked
    _assert_locked(locked.root)
    assert snapshot(profile) == before


def test_locking_an_open_profile(fs, profile):
    (fs.root / "a.txt").write_bytes(b"a")
    (fs.root / "d/x").write_bytes(b"x")
    assert (fs.root / "a.txt").is_file()
    fs.lock()
    assert fs.locked and fs.vault.locked
    before = snapshot(profile)
    _assert_locked(fs.root)
    assert snapshot(profile) == before
    assert SealedFS(V.unlock(profile, PW)).root.joinpath("a.txt").read_bytes() == b"a"


def test_a_locked_workspace(home, fast_kdf):
    ws, profile_dir = _sealed_workspace()
    info = ws.store.new_chat(["mara"], ["You"], "t")
    before = snapshot(profile_dir)
    locked = Workspace(ws.paths, ws.config)
    assert locked.encrypted and locked.locked and locked.profile_dir == profile_dir
    with pytest.raises(StoreError, match="locked"):
        locked.store.list_chats()
    with pytest.raises(StoreError):  # the chat cannot even be seen
        locked.store.append(info.id, Message.new("You", "user", "x"))
    ws.lock()
    assert ws.locked
    with pytest.raises(StoreError):
        ws.store.list_chats()
    assert snapshot(profile_dir) == before


# ----------------------------------------------------------------------------
# 9. wrong passphrase


def test_a_wrong_passphrase_changes_nothing(fs, profile):
    store = Store(fs.root)
    info = store.new_chat(["mara"], ["You"], "t")
    store.append(info.id, Message.new("You", "user", "hi"))
    _orphan(fs)
    set_old(_orphan(fs))  # even an old orphan stays: nothing runs without the key
    before = snapshot(profile)
    for wrong in ("wrong", PW + " ", PW.upper()):
        with pytest.raises(V.WrongPassphrase):
            V.unlock(profile, wrong)
    with pytest.raises(V.VaultError):
        V.unlock(profile, "")
    assert snapshot(profile) == before
    assert [m.text for m in Store(SealedFS(V.unlock(profile, PW)).root).messages(info.id)[0]] == ["hi"]
