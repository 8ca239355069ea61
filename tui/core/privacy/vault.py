"""Encryption at rest for one profile, in the standard age format (pyrage).

Scheme
------
A profile that is encrypted holds a per-profile X25519 identity:

- ``vault.age``  the identity file (``AGE-SECRET-KEY-1…`` plus comments),
  encrypted with the user's passphrase (age scrypt). The standard tool opens
  it: ``age -d vault.age`` prints the identity, and ``age -d -i vault.age
  files/<name>.age`` decrypts a data file after asking for the passphrase.
- ``vault.toml`` version and the identity's public recipient (``age1…``);
  its presence is what marks a profile as encrypted.
- ``index.age``  encrypted JSON: logical path -> opaque file name
  (``"entries"``); a long line log (a chat's ``messages.jsonl``) is kept as
  segments, and ``"segments"`` lists, per such file, its earlier segments in
  order (``file``, plaintext ``bytes``, ``lines`` and ``records``: its
  non-blank lines, the messages a reader can count without decrypting it); the entry names the
  last one. The file is their plaintexts joined (see ``tui.core.privacy.sealed_fs``
  and the README). An index with no segments is written as version 1, so
  an older Candlelit still reads it; one with segments is version 2, which
  an older one refuses instead of misreading.
- ``files/``     every data file as ``<32 hex>.age``, encrypted to the
  recipient. The names are HMAC-SHA256 of the logical path under a key
  derived from the identity, so they reveal nothing about what they hold.

Unlocking costs one scrypt (the passphrase only opens the identity); every
file after that is plain X25519 age, which is fast. A wrong passphrase
raises :class:`WrongPassphrase` and writes nothing. A changed or cut-short
file raises :class:`TamperedFile` and never yields partial plaintext:
``Vault.decrypt`` returns all of the plaintext or raises.

Converting in place
-------------------
``encrypt_tree`` / ``decrypt_tree`` build the complete new form in a sibling
folder ``.<name>.new-<time>`` (0700), fsync it, then swap with two renames:
``<name>`` -> ``.<name>.old-<time>`` and ``.<name>.new-<time>`` -> ``<name>``,
and only then delete the old form (renamed ``.<name>.trash-<time>`` first, so
a half-deleted copy never looks like a whole one). :func:`recover` (run
first by both) reads which of those folders exist and finishes or undoes a
swap that a crash or power cut interrupted, so at every instant one complete
form is on disk.

Limits, stated honestly: Python cannot wipe strings from memory, so
``Vault.lock`` drops the identity reference and no more. Deleting the old
plain form after ``encrypt_tree`` unlinks files; on SSDs, snapshots and
backups old copies may survive. ``crypto_shred`` destroys the key, which
makes leftover encrypted copies unreadable (old copies of ``vault.age``
kept elsewhere still open with the passphrase they had then).

The swap folders start with a dot: a profile lister should skip names that
start with ``.`` and call :func:`recover` for a profile before opening it.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pyrage
import tomli_w
from pyrage import passphrase as age_passphrase
from pyrage import x25519

from tui.core.fsio import FILE_MODE, atomic_write, ensure_dir, fsync_dir

__all__ = [
    "AlreadyEncrypted",
    "FILES_DIR",
    "INDEX_FILE",
    "KEY_FILE",
    "LOCK_FILE",
    "META_FILE",
    "SEGMENT_BYTES",
    "SEGMENT_LINES",
    "Segment",
    "NotEncrypted",
    "TamperedFile",
    "Vault",
    "VaultError",
    "VaultLocked",
    "WrongPassphrase",
    "change_passphrase",
    "create_vault",
    "crypto_shred",
    "decrypt_tree",
    "encrypt_tree",
    "is_encrypted",
    "read_meta",
    "set_shared",
    "count_records",
    "segment_of",
    "split_segments",
    "recover",
    "unlock",
]

VAULT_VERSION = 1
INDEX_VERSION = 2  # 2 added "segments"; an index without any is still written as 1

# A line log (``*.jsonl``, or anything appended to) longer than this is kept
# as a sequence of segments, each its own age file (see tui.core.privacy.sealed_fs):
SEGMENT_LINES = 128
SEGMENT_BYTES = 128 * 1024

KEY_FILE = "vault.age"
META_FILE = "vault.toml"
INDEX_FILE = "index.age"
FILES_DIR = "files"
UNINDEXED_DIR = "unindexed"

_AGE_MAGIC = b"age-encryption.org/v1\n"
_SCRYPT_STANZA = b"-> scrypt "
_OPAQUE_RE = re.compile(r"^[0-9a-f]{32}\.age$")
_NAME_KEY_INFO = b"candlelit/opaque-names/v1"
LOCK_FILE = "index.lock"
_RESERVED = frozenset({KEY_FILE, META_FILE, INDEX_FILE, FILES_DIR, LOCK_FILE})


# --------------------------------------------------------------------------
# errors


class VaultError(CandlelitError):
    """An encryption problem the user can act on; ``str()`` is one clear line."""


class WrongPassphrase(VaultError):
    """The passphrase does not open this profile's key."""


class TamperedFile(VaultError):
    """An encrypted file was changed, cut short, or not written for this profile."""


class VaultLocked(VaultError):
    """The vault was locked; unlock it again to read or write."""


class NotEncrypted(VaultError):
    """The operation needs an encrypted profile and this one is plain."""


class AlreadyEncrypted(VaultError):
    """The profile already has a key; it cannot get a second one."""


# --------------------------------------------------------------------------
# seams (tests replace these; production code never does)


def _checkpoint(step: str) -> None:
    """Called between the steps of a conversion; a no-op.

    Tests replace it to stop the process at a chosen step and check that
    :func:`recover` loses nothing. Steps: ``"file"`` (after each file is
    staged), ``"staged"``, ``"old-moved"``, ``"swapped"``.
    """


def _seal_secret(secret: bytes, passphrase: str) -> bytes:
    """Encrypt the identity file with the passphrase (age scrypt, default work)."""
    return age_passphrase.encrypt(secret, passphrase)


def _open_secret(blob: bytes, passphrase: str) -> bytes:
    """Open the identity file; raise :class:`WrongPassphrase` if it does not open."""
    try:
        return age_passphrase.decrypt(blob, passphrase)
    except pyrage.DecryptError:
        raise WrongPassphrase("wrong passphrase: the profile stays locked") from None


# --------------------------------------------------------------------------
# small helpers


def _check_passphrase(value: object) -> str:
    if not isinstance(value, str) or value == "":
        raise VaultError("the passphrase must not be empty")
    return value


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _stamp() -> str:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(3)}"


def _logical(relpath: str | os.PathLike[str]) -> str:
    """Normalise a logical path (relative, '/'-separated, no '..')."""
    text = os.fspath(relpath)
    if os.sep != "/":
        text = text.replace(os.sep, "/")
    pure = PurePosixPath(text)
    bad_part = any(part in ("..", ".") for part in pure.parts)
    if not text or pure.is_absolute() or bad_part or not pure.parts:
        raise VaultError(f"invalid path inside a profile: {text!r}")
    return pure.as_posix()


Segment = tuple[str, int, int, "int | None"]
"""One closed segment of a segmented file: (opaque name, plaintext bytes,
lines, records). ``lines`` counts newlines; ``records`` the non-blank
newline-terminated lines (what a chat counts as messages, see
:func:`count_records`), so a reader can place a message without decrypting
the segments before it. ``None``: not recorded (an index written before it
was), the reader then decrypts to count."""


def count_records(data: bytes) -> int:
    """Non-blank, newline-terminated lines of ``data`` (the messages of a
    chat: the same rule as ``tui.core.storage.message_log.line_starts``)."""
    return sum(1 for line in data.split(b"\n")[:-1] if line.strip())


def segment_of(opaque: str, piece: bytes) -> Segment:
    """The index entry of a closed segment holding ``piece``."""
    return (opaque, len(piece), piece.count(b"\n"), count_records(piece))


def _fits(data: bytes) -> bool:
    return len(data) <= SEGMENT_BYTES and data.count(b"\n") <= SEGMENT_LINES


def split_segments(data: bytes) -> list[bytes]:
    """Cut ``data`` at line ends into pieces of at most ``SEGMENT_LINES``
    lines and ``SEGMENT_BYTES`` bytes (a longer single line is one piece of
    its own). Joined, the pieces are ``data``; an unterminated tail stays in
    the last piece. Never returns an empty list."""
    if _fits(data):
        return [data]
    pieces: list[bytes] = []
    start = 0
    n = len(data)
    while start < n:
        pos, lines = start, 0
        while pos < n and lines < SEGMENT_LINES:
            end = data.find(b"\n", pos)
            end = n if end < 0 else end + 1
            if end - start > SEGMENT_BYTES and pos > start:
                break
            pos = end
            lines += 1
        pieces.append(data[start:pos])
        start = pos
    return pieces


def _identity_text(identity: x25519.Identity) -> bytes:
    public = str(identity.to_public())
    return (
        f"# Candlelit profile key, created {_now_iso()}\n"
        f"# public key: {public}\n"
        f"{identity}\n"
    ).encode("ascii")


def _parse_identity(text: bytes) -> x25519.Identity:
    for raw in text.decode("ascii", "replace").splitlines():
        line = raw.strip()
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                return x25519.Identity.from_str(line)
            except Exception:  # pyrage raises its own IdentityError
                break
    raise TamperedFile(f"{KEY_FILE} holds no usable key")


def _read_meta(profile_dir: Path) -> dict[str, Any]:
    meta_path = profile_dir / META_FILE
    try:
        meta = tomllib.loads(meta_path.read_text("utf-8"))
    except FileNotFoundError:
        raise NotEncrypted(f"the profile at {profile_dir} is not encrypted") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise VaultError(f"{meta_path} is unreadable") from None
    version = meta.get("version")
    if not isinstance(version, int):
        raise VaultError(f"{meta_path} has no version")
    if version > VAULT_VERSION:
        raise VaultError(f"{meta_path} was written by a newer Candlelit (version {version})")
    if not isinstance(meta.get("recipient"), str):
        raise VaultError(f"{meta_path} names no recipient")
    return meta


def read_meta(profile_dir: Path) -> dict[str, Any]:
    """``vault.toml`` (plain: version, recipient, and the ``shared`` mark)."""
    return _read_meta(Path(profile_dir))


def set_shared(profile_dir: Path, shared: bool) -> None:
    """Record in ``vault.toml`` whether this encrypted profile is the shared one.

    Kept outside the encrypted files on purpose: both partners can see which
    profile is shared without unlocking it (it says nothing else)."""
    meta = _read_meta(Path(profile_dir))
    meta["shared"] = bool(shared)
    atomic_write(Path(profile_dir) / META_FILE, tomli_w.dumps(meta))


# --------------------------------------------------------------------------
# the unlocked key


class Vault:
    """An unlocked profile key: encrypts to and decrypts with its identity."""

    def __init__(self, profile_dir: Path, identity: x25519.Identity) -> None:
        self.profile_dir = Path(profile_dir)
        self.recipient = str(identity.to_public())
        self._identity: x25519.Identity | None = identity
        self._name_key: bytes | None = hmac.new(
            str(identity).encode("ascii"), _NAME_KEY_INFO, hashlib.sha256
        ).digest()

    def __repr__(self) -> str:
        state = "locked" if self.locked else "unlocked"
        return f"<Vault {self.recipient} {state}>"

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    @property
    def locked(self) -> bool:
        return self._identity is None

    def lock(self) -> None:
        """Drop the identity and the name key (references only: see module doc)."""
        self._identity = None
        self._name_key = None

    def _key(self) -> x25519.Identity:
        if self._identity is None:
            raise VaultLocked("the profile is locked: unlock it with its passphrase")
        return self._identity

    # --- bytes ----------------------------------------------------------

    def encrypt(self, data: bytes | str, *, also_to: Iterable[str] = ()) -> bytes:
        """age-encrypt ``data`` to this profile (and ``also_to`` recipients)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        recipients = [self._key().to_public()]
        for extra in also_to:
            try:
                recipients.append(x25519.Recipient.from_str(extra))
            except Exception:
                raise VaultError(f"not an age recipient: {extra[:16]!r}…") from None
        return pyrage.encrypt(bytes(data), recipients)

    def decrypt(self, blob: bytes, *, what: str = "the file") -> bytes:
        """All of the plaintext, or :class:`TamperedFile`; never part of it."""
        identity = self._key()
        if not blob.startswith(_AGE_MAGIC):
            raise TamperedFile(f"{what} is not an age file (changed or damaged)")
        try:
            return pyrage.decrypt(bytes(blob), [identity])
        except pyrage.DecryptError:
            raise TamperedFile(
                f"{what} could not be decrypted: it was changed or cut short, "
                "or it was not written by this profile"
            ) from None

    # --- files ----------------------------------------------------------

    def write(self, path: Path, data: bytes | str) -> None:
        """Encrypt ``data`` and replace ``path`` atomically (0600)."""
        atomic_write(Path(path), self.encrypt(data))

    def read(self, path: Path) -> bytes:
        """Decrypt the file at ``path`` (``FileNotFoundError`` if absent)."""
        path = Path(path)
        return self.decrypt(path.read_bytes(), what=path.name)

    # --- opaque names and the index -------------------------------------

    def opaque_name(self, logical_relpath: str | os.PathLike[str]) -> str:
        """The file name that stores ``logical_relpath``: 32 hex + ``.age``."""
        self._key()
        assert self._name_key is not None
        logical = _logical(logical_relpath)
        digest = hmac.new(self._name_key, logical.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:32] + ".age"

    def file_path(self, logical_relpath: str | os.PathLike[str]) -> Path:
        """Where ``logical_relpath`` lives: ``<profile>/files/<opaque>.age``."""
        return self.profile_dir / FILES_DIR / self.opaque_name(logical_relpath)

    def save_index(
        self,
        directory: Path,
        mapping: Mapping[str, str],
        segments: Mapping[str, Iterable[Segment]] | None = None,
    ) -> None:
        """Write ``directory/index.age``: logical path -> opaque name.

        A key ending in ``/`` records a folder (kept even when empty); its
        value is ``""``. ``segments`` gives, for a file kept in segments,
        its earlier (closed) segments in order; the file ``mapping`` names
        is the last one. The plaintext is their concatenation.
        """
        entries: dict[str, str] = {}
        for logical, opaque in mapping.items():
            if logical.endswith("/"):
                entries[_logical(logical.rstrip("/")) + "/"] = ""
                continue
            if not _OPAQUE_RE.fullmatch(opaque):
                raise VaultError(f"not an opaque file name: {opaque!r}")
            entries[_logical(logical)] = opaque
        segs: dict[str, list[dict[str, Any]]] = {}
        for logical, parts in (segments or {}).items():
            logical = _logical(logical)
            if logical not in entries:
                raise VaultError(f"segments for a file the index does not name: {logical!r}")
            listed = []
            for opaque, size, lines, *more in parts:
                if not _OPAQUE_RE.fullmatch(opaque):
                    raise VaultError(f"not an opaque file name: {opaque!r}")
                part: dict[str, Any] = {"file": opaque, "bytes": int(size), "lines": int(lines)}
                if more and more[0] is not None:
                    part["records"] = int(more[0])
                listed.append(part)
            if listed:
                segs[logical] = listed
        doc: dict[str, Any] = {"version": 2 if segs else 1, "entries": entries}
        if segs:
            doc["segments"] = segs
        self.write(Path(directory) / INDEX_FILE, json.dumps(doc, sort_keys=True))

    def load_index(self, directory: Path) -> dict[str, str]:
        """Read ``directory/index.age``; ``{}`` when there is none yet."""
        return self.load_layout(directory)[0]

    def load_layout(self, directory: Path) -> tuple[dict[str, str], dict[str, list[Segment]]]:
        """The index's entries and, per segmented file, its closed segments."""
        path = Path(directory) / INDEX_FILE
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return {}, {}
        plain = self.decrypt(blob, what=INDEX_FILE)
        try:
            doc = json.loads(plain)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise VaultError(f"{INDEX_FILE} decrypts but does not parse") from None
        version = doc.get("version") if isinstance(doc, dict) else None
        if not isinstance(version, int) or not isinstance(doc.get("entries"), dict):
            raise VaultError(f"{INDEX_FILE} has an unknown layout")
        if version > INDEX_VERSION:
            raise VaultError(f"{INDEX_FILE} was written by a newer Candlelit (version {version})")
        entries = {str(k): str(v) for k, v in doc["entries"].items()}
        segments: dict[str, list[Segment]] = {}
        raw = doc.get("segments", {})
        if not isinstance(raw, dict):
            raise VaultError(f"{INDEX_FILE} has an unknown layout")
        for logical, parts in raw.items():
            if logical not in entries or not isinstance(parts, list):
                raise VaultError(f"{INDEX_FILE} has an unknown layout")
            listed: list[Segment] = []
            for part in parts:
                ok = (
                    isinstance(part, dict)
                    and isinstance(part.get("file"), str)
                    and _OPAQUE_RE.fullmatch(part["file"])
                    and isinstance(part.get("bytes"), int)
                    and isinstance(part.get("lines"), int)
                    and isinstance(part.get("records", 0), int)
                )
                if not ok:
                    raise VaultError(f"{INDEX_FILE} has an unknown layout")
                listed.append((part["file"], part["bytes"], part["lines"], part.get("records")))
            if listed:
                segments[str(logical)] = listed
        return entries, segments

    # --- streaming, for whole-tree conversion ---------------------------

    def _encrypt_file(self, src: Path, dst: Path) -> str:
        """Encrypt ``src`` into ``dst`` (atomic, 0600); return the source sha256."""
        reader = _HashingReader(src)
        try:
            _write_via(dst, lambda out: pyrage.encrypt_io(reader, out, [self._key().to_public()]))
        finally:
            reader.close()
        return reader.hexdigest()

    def _decrypt_file(self, src: Path | list[Path], dst: Path | None, *, what: str) -> str:
        """Decrypt ``src`` into ``dst`` (or only hash it); return the plaintext
        sha256. A list of sources is the segments of one file: their
        plaintexts, in order, make ``dst``."""
        identity = self._key()
        sink = _HashingSink()
        sources = src if isinstance(src, list) else [src]

        def run(out: Any) -> None:
            sink.target = out
            for one in sources:
                with open(one, "rb") as fin:
                    if fin.read(len(_AGE_MAGIC)) != _AGE_MAGIC:
                        raise TamperedFile(f"{what} is not an age file (changed or damaged)")
                    fin.seek(0)
                    try:
                        pyrage.decrypt_io(fin, sink, [identity])
                    except (pyrage.DecryptError, OSError) as exc:
                        if sink.error is not None:
                            raise sink.error from None
                        raise TamperedFile(
                            f"{what} could not be decrypted: it was changed or cut short, "
                            "or it was not written by this profile"
                        ) from exc

        if dst is None:
            run(None)
        else:
            _write_via(dst, run)
        return sink.hexdigest()

    def _encrypt_segments(self, src: Path, files: Path, last: str) -> list[Segment] | None:
        """Encrypt a long line log as segments (the last one named ``last``),
        each checked by decrypting it again; ``None`` when it fits in one."""
        data = src.read_bytes()
        pieces = split_segments(data)
        if len(pieces) == 1:
            return None
        closed: list[Segment] = []
        for i, piece in enumerate(pieces):
            opaque = last if i == len(pieces) - 1 else secrets.token_hex(16) + ".age"
            atomic_write(files / opaque, self.encrypt(piece))
            if self.decrypt((files / opaque).read_bytes(), what=src.name) != piece:
                raise VaultError(f"{src.name} did not survive encryption intact; nothing was changed")
            if i < len(pieces) - 1:
                closed.append(segment_of(opaque, piece))
        return closed


class _HashingReader:
    def __init__(self, path: Path) -> None:
        self._f = open(path, "rb")
        self._h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        return data

    def close(self) -> None:
        self._f.close()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


class _HashingSink:
    """A writer for pyrage that hashes, forwards, and remembers its own I/O errors."""

    def __init__(self) -> None:
        self.target: Any = None
        self.error: OSError | None = None
        self._h = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._h.update(data)
        if self.target is not None:
            try:
                self.target.write(data)
            except OSError as exc:
                self.error = exc
                raise
        return len(data)

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _write_via(dst: Path, fill: Callable[[Any], None]) -> None:
    """Create ``dst`` atomically (0600) with ``fill(fileobj)``; fsync before rename."""
    ensure_dir(dst.parent)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, dst)
    fsync_dir(dst.parent)


# --------------------------------------------------------------------------
# create, unlock, change passphrase


def is_encrypted(profile_dir: Path) -> bool:
    """True when the profile has a key (``vault.toml`` present).

    During an interrupted conversion the profile folder may be missing: call
    :func:`recover` first.
    """
    return (Path(profile_dir) / META_FILE).is_file()


def _install_key(directory: Path, passphrase: str) -> Vault:
    """Generate an identity and write vault.age then vault.toml into ``directory``."""
    identity = x25519.Identity.generate()
    ensure_dir(directory)
    atomic_write(directory / KEY_FILE, _seal_secret(_identity_text(identity), passphrase))
    meta = {
        "version": VAULT_VERSION,
        "recipient": str(identity.to_public()),
        "kdf": "scrypt",
        "layout": "flat",
        "created": _now_iso(),
        "help": "Files are age-encrypted: age -d -i vault.age files/<name>.age",
    }
    atomic_write(directory / META_FILE, tomli_w.dumps(meta))
    return Vault(directory, identity)


def create_vault(profile_dir: Path, passphrase: str) -> Vault:
    """Give a profile a new passphrase-protected key; return it unlocked.

    ``vault.toml`` is written last, so a crash leaves the profile plain.
    Files already in the folder are not touched (see :func:`encrypt_tree`).
    """
    profile_dir = Path(profile_dir)
    _check_passphrase(passphrase)
    if is_encrypted(profile_dir):
        raise AlreadyEncrypted(f"the profile at {profile_dir} is already encrypted")
    return _install_key(profile_dir, passphrase)


def unlock(profile_dir: Path, passphrase: str) -> Vault:
    """Open the profile's key with ``passphrase`` (one scrypt); writes nothing."""
    profile_dir = Path(profile_dir)
    _check_passphrase(passphrase)
    meta = _read_meta(profile_dir)
    try:
        blob = (profile_dir / KEY_FILE).read_bytes()
    except FileNotFoundError:
        raise VaultError(
            f"the key file {KEY_FILE} is missing: this profile cannot be unlocked"
        ) from None
    header = blob[: len(_AGE_MAGIC) + len(_SCRYPT_STANZA)]
    if header != _AGE_MAGIC + _SCRYPT_STANZA:
        raise TamperedFile(f"{KEY_FILE} is not a passphrase-protected age file")
    identity = _parse_identity(_open_secret(blob, passphrase))
    if str(identity.to_public()) != meta["recipient"]:
        raise VaultError(f"{KEY_FILE} and {META_FILE} do not belong together")
    return Vault(profile_dir, identity)


def change_passphrase(profile_dir: Path, old: str, new: str) -> None:
    """Re-seal the same key under ``new``; data files stay as they are."""
    profile_dir = Path(profile_dir)
    _check_passphrase(new)
    vault = unlock(profile_dir, old)
    try:
        identity = vault._key()
        atomic_write(profile_dir / KEY_FILE, _seal_secret(_identity_text(identity), new))
    finally:
        vault.lock()


# --------------------------------------------------------------------------
# conversion in place, with crash recovery


def _swap_folders(profile_dir: Path) -> list[tuple[str, str, Path]]:
    """Leftover ``.<name>.{new,old,trash}-<stamp>`` siblings of a profile."""
    parent = profile_dir.parent
    pattern = re.compile(
        rf"^\.{re.escape(profile_dir.name)}\.(new|old|trash)-([0-9TZ]+-[0-9a-f]{{6}})$"
    )
    found: list[tuple[str, str, Path]] = []
    try:
        entries = list(parent.iterdir())
    except FileNotFoundError:
        return found
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found.append((m.group(1), m.group(2), entry))
    return sorted(found, key=lambda t: (t[1], t[0]))


def _swap_path(profile_dir: Path, kind: str, stamp: str) -> Path:
    return profile_dir.parent / f".{profile_dir.name}.{kind}-{stamp}"


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path)
    fsync_dir(path.parent)


def _discard_old(profile_dir: Path, stamp: str) -> None:
    """Rename the old form to ``trash`` (atomic), then delete it.

    The rename means a crash mid-delete leaves a folder whose name says it
    is garbage, never a half-deleted "old" form that looks like a copy.
    """
    trash = _swap_path(profile_dir, "trash", stamp)
    os.rename(_swap_path(profile_dir, "old", stamp), trash)
    fsync_dir(profile_dir.parent)
    _remove_tree(trash)


def recover(profile_dir: Path) -> str | None:
    """Finish or undo a conversion that was interrupted; say what was done.

    Returns ``None`` when there was nothing to recover. Never deletes the
    only complete copy: a leftover old form is removed only when the profile
    folder holds the other form (encrypted vs plain), and when the state is
    ambiguous the folders are left for a person to look at.
    """
    profile_dir = Path(profile_dir)
    stamps: dict[str, dict[str, Path]] = {}
    for kind, stamp, path in _swap_folders(profile_dir):
        stamps.setdefault(stamp, {})[kind] = path
    if not stamps:
        return None
    done: list[str] = []
    for stamp in sorted(stamps):
        group = stamps[stamp]
        new, old, trash = group.get("new"), group.get("old"), group.get("trash")
        if trash is not None:
            _remove_tree(trash)
            done.append("finished deleting the previous form of a conversion")
        if profile_dir.exists():
            if new is not None and old is not None:
                done.append(f"left {new.name} and {old.name} in place: unclear which is current")
            elif new is not None:
                # The swap never started: the profile is the complete old form.
                _remove_tree(new)
                done.append("discarded an unfinished conversion")
            elif old is not None:
                if is_encrypted(old) != is_encrypted(profile_dir):
                    _discard_old(profile_dir, stamp)
                    done.append("removed the previous form of a finished conversion")
                else:
                    done.append(f"left {old.name} in place: it does not match a conversion")
        elif new is not None and old is not None:
            # Crash between the two renames: the staged form is complete.
            os.rename(new, profile_dir)
            fsync_dir(profile_dir.parent)
            _discard_old(profile_dir, stamp)
            done.append("finished an interrupted conversion")
        elif old is not None:
            os.rename(old, profile_dir)
            fsync_dir(profile_dir.parent)
            done.append("restored the profile from before an interrupted conversion")
        elif new is not None:
            done.append(f"left {new.name} in place: the profile folder is missing")
    return "; ".join(done)


def _walk(root: Path) -> Iterator[tuple[str, bool]]:
    """(relative posix path, is_dir) for everything under ``root``; refuse links."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                raise VaultError(
                    f"{rel} is a symbolic link: move the real file into the profile and try again"
                )
            if stat.S_ISDIR(mode):
                yield rel, True
            elif stat.S_ISREG(mode):
                yield rel, False
            else:
                raise VaultError(f"{rel} is not a regular file: remove it and try again")


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        fsync_dir(Path(dirpath))


def _convert(profile_dir: Path, build: Callable[[Path], None]) -> None:
    """Build the new form beside ``profile_dir`` and swap it in (see module doc)."""
    parent = profile_dir.parent
    stamp = _stamp()
    new = _swap_path(profile_dir, "new", stamp)
    old = _swap_path(profile_dir, "old", stamp)
    os.mkdir(new, 0o700)
    fsync_dir(parent)
    try:
        build(new)
        _fsync_tree(new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        fsync_dir(parent)
        raise
    _checkpoint("staged")
    os.rename(profile_dir, old)
    fsync_dir(parent)
    _checkpoint("old-moved")
    os.rename(new, profile_dir)
    fsync_dir(parent)
    _checkpoint("swapped")
    _discard_old(profile_dir, stamp)


def _existing_profile(profile_dir: Path) -> Path:
    profile_dir = Path(profile_dir)
    recover(profile_dir)
    if not profile_dir.is_dir():
        raise VaultError(f"no profile folder at {profile_dir}")
    return profile_dir


def encrypt_tree(
    profile_dir: Path, passphrase: str, *, finish: Callable[[Path], None] | None = None
) -> Vault:
    """Encrypt a plain profile in place; return its key, unlocked.

    Every file becomes ``files/<opaque>.age`` (a long ``*.jsonl``: segments);
    each one is decrypted again and compared with its source before the swap. ``finish`` gets
    the complete staged folder just before the swap (to add plain metadata
    that must be there whether or not a crash follows).
    """
    _check_passphrase(passphrase)
    profile_dir = _existing_profile(profile_dir)
    if is_encrypted(profile_dir):
        raise AlreadyEncrypted(f"the profile at {profile_dir} is already encrypted")
    entries = list(_walk(profile_dir))  # refuse links before any work
    result: list[Vault] = []

    def build(staging: Path) -> None:
        vault = _install_key(staging, passphrase)
        files = ensure_dir(staging / FILES_DIR)
        mapping: dict[str, str] = {}
        segments: dict[str, list[Segment]] = {}
        for rel, is_dir in entries:
            if is_dir:
                mapping[rel + "/"] = ""
                continue
            opaque = vault.opaque_name(rel)
            if rel.endswith(".jsonl"):
                closed = vault._encrypt_segments(profile_dir / rel, files, opaque)
                if closed is not None:
                    mapping[rel] = opaque
                    segments[rel] = closed
                    _checkpoint("file")
                    continue
            source_hash = vault._encrypt_file(profile_dir / rel, files / opaque)
            if vault._decrypt_file(files / opaque, None, what=rel) != source_hash:
                raise VaultError(f"{rel} did not survive encryption intact; nothing was changed")
            mapping[rel] = opaque
            _checkpoint("file")
        vault.save_index(staging, mapping, segments)
        if finish is not None:
            finish(staging)
        result.append(vault)

    _convert(profile_dir, build)
    vault = result[0]
    vault.profile_dir = profile_dir
    return vault


def _safe_target(root: Path, logical: str) -> Path:
    return root / PurePosixPath(_logical(logical))


def decrypt_tree(
    profile_dir: Path, passphrase: str, *, finish: Callable[[Path], None] | None = None
) -> None:
    """Turn an encrypted profile back into plain files, in place.

    A wrong passphrase or a tampered file stops before anything changes.
    A segmented file becomes one plain file again (its segments joined).
    Files in ``files/`` that the index does not name are kept, decrypted,
    under ``unindexed/``; plain files beside the vault are kept as they are.
    """
    _check_passphrase(passphrase)
    profile_dir = _existing_profile(profile_dir)
    if not is_encrypted(profile_dir):
        raise NotEncrypted(f"the profile at {profile_dir} is not encrypted")
    vault = unlock(profile_dir, passphrase)
    try:
        index, segments = vault.load_layout(profile_dir)
        extras = [
            (rel, is_dir)
            for rel, is_dir in _walk(profile_dir)
            if rel.split("/", 1)[0] not in _RESERVED
        ]

        def build(staging: Path) -> None:
            files = profile_dir / FILES_DIR
            known: set[str] = set()
            for logical, opaque in sorted(index.items()):
                if logical.endswith("/"):
                    ensure_dir(_safe_target(staging, logical.rstrip("/")))
                    continue
                names = [seg[0] for seg in segments.get(logical, [])] + [opaque]
                if not all((files / name).is_file() for name in names):
                    raise TamperedFile(f"{logical} is listed in the index but its file is missing")
                vault._decrypt_file([files / n for n in names], _safe_target(staging, logical), what=logical)
                known.update(names)
                _checkpoint("file")
            if files.is_dir():
                for entry in sorted(files.iterdir()):
                    if entry.name in known or entry.name.endswith(".tmp"):
                        continue
                    target = staging / UNINDEXED_DIR / entry.name.removesuffix(".age")
                    vault._decrypt_file(entry, target, what=f"{FILES_DIR}/{entry.name}")
            for rel, is_dir in extras:
                target = staging / rel
                if target.exists() and not (is_dir and target.is_dir()):
                    target = staging / UNINDEXED_DIR / rel
                if is_dir:
                    ensure_dir(target)
                else:
                    atomic_write(target, (profile_dir / rel).read_bytes())
            if finish is not None:
                finish(staging)

        _convert(profile_dir, build)
    finally:
        vault.lock()


# --------------------------------------------------------------------------
# destroy


def _overwrite(path: Path) -> bool:
    """Overwrite a file with random bytes, fsync, unlink; False if absent."""
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        remaining = size
        while remaining > 0:
            chunk = secrets.token_bytes(min(remaining, 1 << 16))
            os.write(fd, chunk)
            remaining -= len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(path)
    fsync_dir(path.parent)
    return True


def crypto_shred(profile_dir: Path) -> bool:
    """Destroy the profile's key, then delete the folder (and swap leftovers).

    Returns True when a key was destroyed. Without the key, copies of the
    encrypted files that survive elsewhere (SSD blocks, backups) are
    unreadable; plain files of an unencrypted profile are only deleted.
    """
    profile_dir = Path(profile_dir)
    folders = [profile_dir] + [path for _k, _s, path in _swap_folders(profile_dir)]
    shredded = False
    for folder in folders:
        if folder.is_dir() and not folder.is_symlink():
            shredded |= _overwrite(folder / KEY_FILE)
            _remove_tree(folder)
    return shredded
