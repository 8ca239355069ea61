"""SealedFS: an encrypted profile seen as a folder tree, every file age-encrypted.

Paths into it are ``tui.core.privacy.sealed_path.SealedPath``. See
docs/ARCHITECTURE.md (privacy) for the on-disk layout and crash-safety rules.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from tui.core.fsio import atomic_write, ensure_dir
from tui.core.privacy import vault as vaults
from tui.core.privacy.sealed_path import SealedPath, SealedStat
from tui.core.privacy.segments import Segment, segment_of, split_segments

__all__ = ["LOCK_FILE", "SealedFS", "SealedFileDamaged", "SealedLocked", "SealedStat"]

LOCK_FILE = vaults.LOCK_FILE
_ORPHAN_AGE_S = 3600


class SealedFileDamaged(OSError):
    """An encrypted file that does not decrypt: changed, cut short or foreign."""


class SealedLocked(PermissionError):
    """The profile is locked: nothing can be read or written until it is unlocked."""



class SealedFS:
    """One unlocked encrypted profile: its index and its files.

    ``index.age`` maps each logical path to an opaque ``files/<32 hex>.age``
    and is the truth: a new file is written (atomically) before the index
    names it, a removed file leaves the index before its bytes go, and a
    crash leaves at worst an unnamed file, swept on the next open. An age
    file cannot be extended, so a line log (``*.jsonl``) is kept as segments
    (``tui.core.privacy.segments``): an append rewrites only the last one, a
    closed segment is never rewritten. Decryption is all-or-nothing
    (:class:`SealedFileDamaged`, an ``OSError``). Mutations hold an ``flock``
    on ``index.lock`` and re-read the index another process changed.
    """

    def __init__(self, vault: vaults.Vault | None, profile_dir: Path | None = None) -> None:
        """Open the profile behind ``vault``; with ``None`` the profile at
        ``profile_dir`` stays locked (queries answer "absent", anything else
        raises :class:`SealedLocked`)."""
        self.vault = vault
        where = profile_dir if vault is None else vault.profile_dir
        if where is None:
            raise ValueError("a locked profile needs its folder")
        self.profile_dir = Path(where)
        self.files_dir = self.profile_dir / vaults.FILES_DIR
        self._index: dict[str, str] = {}
        self._segs: dict[str, list[Segment]] = {}  # closed segments, in order
        self._dirs: set[str] = {""}
        self._stamp: tuple[int, int, int, bytes] | None = None
        self._lock = threading.RLock()
        if not self.locked:
            with self._mutating():
                pass  # creates files/ and the index if this is a new vault
            self._sweep()

    @property
    def root(self) -> Path:
        """The profile's root as a ``SealedPath``, typed as the ``Path`` it
        stands in for: the storage modules take either."""
        return cast(Path, SealedPath(self, ""))

    @property
    def locked(self) -> bool:
        return self.vault is None or self.vault.locked

    def _open_vault(self) -> vaults.Vault:
        if self.vault is None or self.vault.locked:
            raise SealedLocked(
                errno.EACCES, "the profile is locked: unlock it with its passphrase", str(self.profile_dir)
            )
        return self.vault

    def lock(self) -> None:
        """Drop the key and the index from memory."""
        with self._lock:
            if self.vault is not None:
                self.vault.lock()
            self._index = {}
            self._segs = {}
            self._dirs = {""}
            self._stamp = None

    # -- the index -----------------------------------------------------------

    def _index_stamp(self) -> tuple[int, int, int, bytes] | None:
        """Tells one saved index from another. The stat fields alone could
        repeat (a reused inode, a coarse clock tick, the same size), but an
        age header carries a fresh random key share on every save, so its
        first bytes never do."""
        try:
            with open(self.profile_dir / vaults.INDEX_FILE, "rb") as f:
                st = os.fstat(f.fileno())
                head = f.read(256)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size, head)

    def _refresh(self) -> None:
        stamp = self._index_stamp()
        if stamp is not None and stamp == self._stamp:
            return
        if stamp is not None:
            index, segs = self._open_vault().load_layout(self.profile_dir)
        else:
            index, segs = {}, {}
        self._set_index(index, segs)
        self._stamp = stamp

    def _set_index(self, index: dict[str, str], segs: dict[str, list[Segment]]) -> None:
        self._index = {k: v for k, v in index.items() if not k.endswith("/")}
        self._segs = {k: list(v) for k, v in segs.items() if k in self._index}
        dirs = {""}
        for key in index:
            logical = key.rstrip("/")
            parts = logical.split("/")
            upto = len(parts) if key.endswith("/") else len(parts) - 1
            for i in range(1, upto + 1):
                dirs.add("/".join(parts[:i]))
        self._dirs = dirs

    def _save(self) -> None:
        mapping: dict[str, str] = dict(self._index)
        for d in self._dirs:
            if d:
                mapping[d + "/"] = ""
        self._open_vault().save_index(self.profile_dir, mapping, self._segs)
        self._stamp = self._index_stamp()

    @contextlib.contextmanager
    def _mutating(self) -> Iterator[None]:
        with self._lock:
            self._open_vault()
            ensure_dir(self.files_dir)
            fd = os.open(self.profile_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._refresh()
                if self._stamp is None:
                    self._refuse_lost_index()
                    self._save()
                yield
            finally:
                os.close(fd)  # releases the flock

    def _refuse_lost_index(self) -> None:
        """Never start an empty index over existing files: they would read as
        absent and then be swept as orphans (decrypt_tree keeps them)."""
        kept = [
            e for e in os.listdir(self.files_dir) if e.endswith(".age") and not e.startswith(".")
        ]
        if kept:
            raise vaults.VaultError(
                f"{vaults.INDEX_FILE} is missing but {vaults.FILES_DIR}/ holds {len(kept)} encrypted "
                "files: nothing was changed (decrypting the profile keeps them under unindexed/)"
            )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            self._open_vault()
            self._refresh()
            yield

    def _sweep(self) -> None:
        """Remove files no index entry names (left by a crash), once they are old."""
        with self._mutating():
            named = set(self._index.values())
            for segs in self._segs.values():
                named.update(seg[0] for seg in segs)
            now = time.time()
            try:
                entries = list(os.scandir(self.files_dir))
            except FileNotFoundError:
                return
            for entry in entries:
                if entry.name in named:
                    continue
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > _ORPHAN_AGE_S:
                        os.unlink(entry.path)

    # -- queries -------------------------------------------------------------

    def is_file(self, rel: str) -> bool:
        if self.locked:
            return False
        with self._reading():
            opaque = self._index.get(rel)
            return opaque is not None and (self.files_dir / opaque).is_file()

    def is_dir(self, rel: str) -> bool:
        if self.locked:
            return False
        with self._reading():
            return rel in self._dirs

    def children(self, rel: str) -> list[str]:
        self._open_vault()
        if not self.is_dir(rel):
            if self.is_file(rel):
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(SealedPath(self, rel)))
            raise FileNotFoundError(errno.ENOENT, "no such folder", str(SealedPath(self, rel)))
        prefix = rel + "/" if rel else ""
        names: set[str] = set()
        with self._reading():
            for key in list(self._index) + [d for d in self._dirs if d]:
                if key.startswith(prefix) and key != rel:
                    names.add(key[len(prefix):].split("/", 1)[0])
        return sorted(names)

    def stat(self, rel: str) -> SealedStat:
        with self._reading():
            if rel in self._dirs:
                prefix = rel + "/" if rel else ""
                times = [
                    os.stat(self.files_dir / o).st_mtime_ns
                    for k, o in self._index.items()
                    if k.startswith(prefix) and (self.files_dir / o).exists()
                ]
                ns = max(times) if times else time.time_ns()
                return SealedStat(0, ns / 1e9, ns, 0o040700)
            opaque = self._index.get(rel)
            if opaque is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", str(SealedPath(self, rel)))
            st = os.stat(self.files_dir / opaque)
            size, ns = st.st_size, st.st_mtime_ns
            for seg in self._segs.get(rel, ()):  # closed segments: their sizes count too
                with contextlib.suppress(FileNotFoundError):
                    other = os.stat(self.files_dir / seg[0])
                    size += other.st_size
                    ns = max(ns, other.st_mtime_ns)
            return SealedStat(size, ns / 1e9, ns, st_ino=st.st_ino)

    def read(self, rel: str) -> bytes:
        """All of the file (a segmented one: its segments, joined in order)."""
        attempt = 0
        while True:
            names = self._names(rel)
            stamp = self._stamp
            try:
                return b"".join(self._decrypt(rel, name) for name in names)
            except FileNotFoundError:
                # gone between the index and the file: another process
                # rewrote or moved it; look once more if the index changed
                with self._reading():
                    changed = self._stamp != stamp
                attempt += 1
                if changed and attempt < 3:
                    continue
                if len(names) > 1:  # part of a chat is gone: damage, not "absent"
                    raise SealedFileDamaged(
                        errno.EBADMSG,
                        f"{rel}: a segment named by the index is missing "
                        f"({len(names)} segments); nothing of it was read",
                        str(SealedPath(self, rel)),
                    ) from None
                raise

    def _listed(self, rel: str) -> list[tuple[str, int | None]]:
        """(opaque name, records) of each file holding ``rel``, in order
        (FileNotFoundError if none); see :meth:`segment_layout`."""
        where = str(SealedPath(self, rel))
        with self._reading():
            if rel in self._dirs:
                raise IsADirectoryError(errno.EISDIR, "is a folder", where)
            opaque = self._index.get(rel)
            if opaque is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", where)
            listed = [(seg[0], seg[3] if len(seg) > 3 else None) for seg in self._segs.get(rel, ())]
            listed.append((opaque, None))
            return listed

    def _names(self, rel: str) -> list[str]:
        """The opaque files holding ``rel``, in order (FileNotFoundError if none)."""
        return [name for name, _records in self._listed(rel)]

    def _decrypt(self, rel: str, opaque: str) -> bytes:
        where = str(SealedPath(self, rel))
        try:
            blob = (self.files_dir / opaque).read_bytes()
        except FileNotFoundError:  # named by the index, gone from disk: absent
            raise FileNotFoundError(errno.ENOENT, "no such file", where) from None
        try:
            return self._open_vault().decrypt(blob, what=rel)
        except vaults.TamperedFile as exc:
            raise SealedFileDamaged(errno.EBADMSG, str(exc), where) from None

    def segments(self, rel: str) -> list[tuple[str, int, int, int]]:
        """(opaque name, encrypted size, mtime_ns, inode) of each file holding
        ``rel``, in order: a reader keeps what it decrypted of an unchanged
        segment (a closed one never changes; the last one is rewritten in
        place, so its size or mtime moves)."""
        return [(name, *stamp) for name, stamp, _records in self.segment_layout(rel)]

    def segment_layout(self, rel: str) -> list[tuple[str, tuple[int, int, int], int | None]]:
        """(opaque name, stamp, records) of each file holding ``rel``, in
        order: the stamp (encrypted size, mtime_ns, inode) tells a changed
        file from the one a reader decrypted; ``records`` is a closed
        segment's count of non-blank lines from the index (``None`` for the
        last one, which changes in place, and for a closed one whose index
        entry predates the count). So a reader places any line without
        decrypting the segments before it."""
        where = str(SealedPath(self, rel))
        listed = self._listed(rel)
        out = []
        for name, records in listed:
            try:
                st = os.stat(self.files_dir / name)
            except FileNotFoundError:
                raise FileNotFoundError(errno.ENOENT, "no such file", where) from None
            out.append((name, (st.st_size, st.st_mtime_ns, st.st_ino), records))
        return out

    def read_segment(self, rel: str, opaque: str) -> bytes:
        """The plaintext of one segment of ``rel`` (named by :meth:`segments`)."""
        if opaque not in self._names(rel):
            raise FileNotFoundError(errno.ENOENT, "no such segment", str(SealedPath(self, rel)))
        return self._decrypt(rel, opaque)

    # -- changes -------------------------------------------------------------

    def _check_parent(self, rel: str) -> None:
        if not rel:
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(self.root))
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._index:
                raise NotADirectoryError(errno.ENOTDIR, "not a folder", "/".join(parts[:i]))
        if rel in self._dirs:
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(SealedPath(self, rel)))

    def _add_dirs(self, rel: str, *, include_self: bool) -> bool:
        parts = rel.split("/") if rel else []
        upto = len(parts) if include_self else len(parts) - 1
        added = False
        for i in range(1, upto + 1):
            d = "/".join(parts[:i])
            if d not in self._dirs:
                self._dirs.add(d)
                added = True
        return added

    def write(self, rel: str, data: bytes | str) -> None:
        """Replace (or create) ``rel``; parent folders appear as needed. A
        long line log (``*.jsonl``) is written as segments."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if rel.endswith(".jsonl"):
            pieces = split_segments(data)
            if len(pieces) > 1:
                with self._mutating():
                    self._check_parent(rel)
                    self._replace(rel, pieces)
                return
        sealed = self._open_vault().encrypt(data)
        with self._mutating():
            self._check_parent(rel)
            if rel in self._segs:
                self._replace(rel, [data], sealed=[sealed])
            else:
                self._put(rel, sealed)

    def _put(self, rel: str, sealed: bytes) -> None:
        opaque = self._index.get(rel)
        if opaque is not None:
            atomic_write(self.files_dir / opaque, sealed)
            return
        opaque = secrets.token_hex(16) + ".age"
        atomic_write(self.files_dir / opaque, sealed)
        self._index[rel] = opaque
        self._add_dirs(rel, include_self=False)
        self._save()

    def _replace(
        self,
        rel: str,
        pieces: list[bytes],
        *,
        keep: list[Segment] | None = None,
        reuse: str | None = None,
        sealed: list[bytes] | None = None,
    ) -> None:
        """Make ``rel`` the closed segments ``keep`` followed by ``pieces``
        (``reuse``: the opaque name already holding ``pieces[0]``). New files
        first, then the index, then the old files go: a crash at any point
        leaves the old file or the new one, and at worst an unnamed file
        that the next open sweeps."""
        vault = self._open_vault()
        old = set(self._names(rel)) if rel in self._index else set()
        made: list[Segment] = []
        for i, piece in enumerate(pieces):
            if i == 0 and reuse is not None:
                opaque = reuse
            else:
                opaque = secrets.token_hex(16) + ".age"
                atomic_write(self.files_dir / opaque, sealed[i] if sealed else vault.encrypt(piece))
            made.append(segment_of(opaque, piece))
        closed = list(keep or []) + made[:-1]
        self._index[rel] = made[-1][0]
        if closed:
            self._segs[rel] = closed
        else:
            self._segs.pop(rel, None)
        self._add_dirs(rel, include_self=False)
        self._save()
        for opaque in old - set(self._names(rel)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.files_dir / opaque)

    def append_line(self, rel: str, line: str) -> None:
        """Add one line: rewrite the last segment in place, or start a new
        one when it is full; never more than one segment's worth of bytes
        (except once, to cut an old one-file log into segments)."""
        if "\n" in line:
            raise ValueError("a JSONL line must not contain a newline")
        add = line.encode("utf-8") + b"\n"
        with self._mutating():
            self._check_parent(rel)
            tail_name = self._index.get(rel)
            tail = b""
            if tail_name is not None and (self.files_dir / tail_name).is_file():
                tail = self._decrypt(rel, tail_name)
            keep = list(self._segs.get(rel, ()))
            pieces = split_segments(tail + add)
            if len(pieces) == 1:
                self._put(rel, self._open_vault().encrypt(pieces[0]))
            elif tail_name is not None and pieces == [tail, add]:
                # the last segment is full: it is closed as it is, and the
                # line starts a new one (one small file, then the index)
                self._replace(rel, pieces, keep=keep, reuse=tail_name)
            else:
                self._replace(rel, pieces, keep=keep)

    def mkdir(self, rel: str, *, parents: bool, exist_ok: bool) -> None:
        with self._mutating():
            if rel in self._dirs:
                if exist_ok:
                    return
                raise FileExistsError(errno.EEXIST, "folder exists", str(SealedPath(self, rel)))
            self._check_parent(rel)
            if rel in self._index:
                raise FileExistsError(errno.EEXIST, "a file has that name", str(SealedPath(self, rel)))
            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
            if not parents and parent not in self._dirs:
                raise FileNotFoundError(errno.ENOENT, "no parent folder", str(SealedPath(self, parent)))
            self._add_dirs(rel, include_self=True)
            self._save()

    def unlink(self, rel: str) -> None:
        with self._mutating():
            if rel in self._dirs:
                raise IsADirectoryError(errno.EISDIR, "is a folder", str(SealedPath(self, rel)))
            opaque = self._index.pop(rel, None)
            if opaque is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", str(SealedPath(self, rel)))
            gone = [seg[0] for seg in self._segs.pop(rel, ())] + [opaque]
            self._save()
        for name in gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.files_dir / name)

    def remove_tree(self, rel: str) -> None:
        """Remove a folder and everything in it (or one file); absent is fine."""
        gone: list[str] = []
        with self._mutating():
            prefix = rel + "/" if rel else ""
            for key in [k for k in self._index if k == rel or k.startswith(prefix)]:
                gone.extend(seg[0] for seg in self._segs.pop(key, ()))
                gone.append(self._index.pop(key))
            if rel:
                self._dirs = {d for d in self._dirs if d != rel and not d.startswith(prefix)}
            else:
                self._dirs = {""}
            self._save()
        for opaque in gone:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.files_dir / opaque)

    def rename(self, src: str, dst: str) -> None:
        """Move a file or a folder (only the index changes: one atomic write)."""
        replaced: list[str] = []
        with self._mutating():
            where = str(SealedPath(self, src))
            if src == dst and (src in self._index or src in self._dirs):
                return  # as os.rename: moving onto itself changes nothing
            if src and dst.startswith(src + "/"):
                raise OSError(errno.EINVAL, "cannot move a folder into itself", where)
            if src in self._index:
                self._check_parent(dst)
                if dst in self._index:
                    replaced = [seg[0] for seg in self._segs.pop(dst, ())] + [self._index[dst]]
                self._index[dst] = self._index.pop(src)
                if src in self._segs:
                    self._segs[dst] = self._segs.pop(src)
            elif src and src in self._dirs:
                if dst in self._index or self._has_children(dst):
                    raise FileExistsError(errno.ENOTEMPTY, "target exists", str(SealedPath(self, dst)))
                if dst not in self._dirs:
                    self._check_parent(dst)
                prefix = src + "/"
                for key in [k for k in self._index if k.startswith(prefix)]:
                    moved_to = dst + "/" + key[len(prefix):]
                    self._index[moved_to] = self._index.pop(key)
                    if key in self._segs:
                        self._segs[moved_to] = self._segs.pop(key)
                moved = {d for d in self._dirs if d == src or d.startswith(prefix)}
                self._dirs -= moved
                self._dirs |= {dst + d[len(src):] for d in moved}
            else:
                raise FileNotFoundError(errno.ENOENT, "no such file or folder", where)
            self._add_dirs(dst, include_self=False)
            self._save()
        for name in replaced:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.files_dir / name)

    def _has_children(self, rel: str) -> bool:
        prefix = rel + "/"
        return any(k.startswith(prefix) for k in self._index) or any(
            d.startswith(prefix) for d in self._dirs
        )

    def logical_files(self) -> dict[str, str]:
        """logical path -> opaque file name (for tests and inspection); for a
        segmented file, its last segment (see :meth:`segment_files`)."""
        with self._reading():
            return dict(self._index)

    def segment_files(self, rel: str) -> list[str]:
        """Every opaque file holding ``rel``, in order (one for most files)."""
        return self._names(rel)
