"""A profile's key and encryption at rest, in the standard age format (pyrage).

Unlocking, file encryption and opaque names; converting a profile lives in
``tui.core.privacy.convert``. See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyrage
import tomli_w
from pyrage import passphrase as age_passphrase
from pyrage import x25519

from tui.core.errors import CandlelitError
from tui.core.fsio import atomic_write, ensure_dir
from tui.core.privacy.age_stream import HashingReader, HashingSink, write_via
from tui.core.privacy.segments import Segment, segment_of, split_segments

__all__ = [
    "AlreadyEncrypted",
    "FILES_DIR",
    "INDEX_FILE",
    "KEY_FILE",
    "LOCK_FILE",
    "META_FILE",
    "NotEncrypted",
    "TamperedFile",
    "Vault",
    "VaultError",
    "VaultLocked",
    "WrongPassphrase",
    "change_passphrase",
    "create_vault",
    "is_encrypted",
    "read_meta",
    "set_shared",
    "unlock",
]

VAULT_VERSION = 1
INDEX_VERSION = 2  # 2 added "segments"; an index without any is still written as 1

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
RESERVED = frozenset({KEY_FILE, META_FILE, INDEX_FILE, FILES_DIR, LOCK_FILE})


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



def _seal_secret(secret: bytes, passphrase: str) -> bytes:
    """Encrypt the identity file with the passphrase (age scrypt, default work)."""
    return age_passphrase.encrypt(secret, passphrase)


def _open_secret(blob: bytes, passphrase: str) -> bytes:
    """Open the identity file; raise :class:`WrongPassphrase` if it does not open."""
    try:
        return age_passphrase.decrypt(blob, passphrase)
    except pyrage.DecryptError as exc:
        why = str(exc)
        if "Excessive work" in why:  # scrypt's work factor is above what this machine accepts
            seconds = re.search(r"(\d+)\s*\u2069?\s*seconds", why)
            took = f" (about {seconds.group(1)} s here)" if seconds else ""
            raise VaultError(
                f"{KEY_FILE} asks for more scrypt work than this machine allows right now{took}: try "
                "again when it is less busy (or it was made on a much faster machine, or altered); "
                "the passphrase was not tried"
            ) from None
        if "Decryption failed" in why:
            raise WrongPassphrase("wrong passphrase: the profile stays locked") from None
        first = why.splitlines()[0] if why else "unreadable"
        raise TamperedFile(f"{KEY_FILE} is damaged or cut short ({first}); the passphrase was not tried") from None


# --------------------------------------------------------------------------
# small helpers


def check_passphrase(value: object) -> str:
    if not isinstance(value, str) or value == "":
        raise VaultError("the passphrase must not be empty")
    return value


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")



def logical_path(relpath: str | os.PathLike[str]) -> str:
    """Normalise a logical path (relative, '/'-separated, no '..')."""
    text = os.fspath(relpath)
    if os.sep != "/":
        text = text.replace(os.sep, "/")
    pure = PurePosixPath(text)
    bad_part = any(part in ("..", ".") for part in pure.parts)
    if not text or pure.is_absolute() or bad_part or not pure.parts:
        raise VaultError(f"invalid path inside a profile: {text!r}")
    return pure.as_posix()


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
            except Exception:  # noqa: BLE001 - pyrage raises its own IdentityError
                break
    raise TamperedFile(f"{KEY_FILE} holds no usable key")


def _read_meta(profile_dir: Path) -> dict[str, Any]:
    meta_path = profile_dir / META_FILE
    try:
        meta = tomllib.loads(meta_path.read_text("utf-8"))
    except FileNotFoundError:
        if is_encrypted(profile_dir):
            raise VaultError(
                f"{meta_path} is missing, but this profile holds encrypted files: it cannot be "
                "unlocked until that file is restored (from a backup); nothing was changed"
            ) from None
        raise NotEncrypted(f"the profile at {profile_dir} is not encrypted") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
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
        """Drop the identity and the name key.

        References only: Python cannot wipe strings from memory."""
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
            except Exception:  # noqa: BLE001 - pyrage raises its own RecipientError
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
        """The file name that stores ``logical_relpath``: 32 hex + ``.age``,
        HMAC-SHA256 of the path under a key derived from the identity, so
        names reveal nothing about what the files hold."""
        self._key()
        assert self._name_key is not None
        logical = logical_path(logical_relpath)
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
        is the last one. The plaintext is their concatenation. An index
        with no segments is written as version 1, so an older Candlelit
        still reads it; one with segments is version 2, which an older one
        refuses instead of misreading.
        """
        entries: dict[str, str] = {}
        for logical, opaque in mapping.items():
            if logical.endswith("/"):
                entries[logical_path(logical.rstrip("/")) + "/"] = ""
                continue
            if not _OPAQUE_RE.fullmatch(opaque):
                raise VaultError(f"not an opaque file name: {opaque!r}")
            entries[logical_path(logical)] = opaque
        segs: dict[str, list[dict[str, Any]]] = {}
        for logical, parts in (segments or {}).items():
            logical = logical_path(logical)
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
        except (ValueError, UnicodeDecodeError, RecursionError):
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

    def encrypt_file(self, src: Path, dst: Path) -> str:
        """Encrypt ``src`` into ``dst`` (atomic, 0600); return the source sha256."""
        reader = HashingReader(src)
        try:
            write_via(dst, lambda out: pyrage.encrypt_io(reader, out, [self._key().to_public()]))
        finally:
            reader.close()
        return reader.hexdigest()

    def decrypt_file(self, src: Path | list[Path], dst: Path | None, *, what: str) -> str:
        """Decrypt ``src`` into ``dst`` (or only hash it); return the plaintext
        sha256. A list of sources is the segments of one file: their
        plaintexts, in order, make ``dst``."""
        identity = self._key()
        sink = HashingSink()
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
            write_via(dst, run)
        return sink.hexdigest()

    def encrypt_segments(self, src: Path, files: Path, last: str) -> list[Segment] | None:
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



# --------------------------------------------------------------------------
# create, unlock, change passphrase


def is_encrypted(profile_dir: Path) -> bool:
    """True when the profile is an encrypted one: it has its key, its key's
    public half or its index. Any one is enough: a
    profile whose plain ``vault.toml`` was deleted is still encrypted (it
    then refuses to unlock with a clear line) and is never taken for a plain
    one, which would write plain files beside the encrypted ones.

    During an interrupted conversion the profile folder may be missing: call
    :func:`recover` first.
    """
    folder = Path(profile_dir)
    return (
        (folder / META_FILE).is_file() or (folder / KEY_FILE).is_file() or (folder / INDEX_FILE).is_file()
    )


def install_key(directory: Path, passphrase: str) -> Vault:
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
    check_passphrase(passphrase)
    if is_encrypted(profile_dir):
        raise AlreadyEncrypted(f"the profile at {profile_dir} is already encrypted")
    return install_key(profile_dir, passphrase)


def unlock(profile_dir: Path, passphrase: str) -> Vault:
    """Open the profile's key with ``passphrase`` (one scrypt); writes nothing.

    The passphrase only opens the identity: every file after that is plain
    X25519 age, which is fast. A wrong passphrase raises
    :class:`WrongPassphrase`."""
    profile_dir = Path(profile_dir)
    check_passphrase(passphrase)
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
    check_passphrase(new)
    vault = unlock(profile_dir, old)
    try:
        identity = vault._key()
        atomic_write(profile_dir / KEY_FILE, _seal_secret(_identity_text(identity), new))
    finally:
        vault.lock()
