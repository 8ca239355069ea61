"""Plain-file storage for one profile: chats, messages and profile.toml.

Layout under a profile folder (``profiles/<profile>/``)::

    profile.toml                    version, [persona], starters_installed
    characters/<slug>/card.json     written by ``tui.core.cards.card``
    chats/<chat-id>/chat.toml       version, id, title, characters, personas,
                                    created, updated (ISO-8601 UTC); a branch
                                    also has parent, parent_message; [scene]
                                    holds the scene settings and state
                                    (tui.core.scene.rules, tui.core.chat.session)
    chats/<chat-id>/messages.jsonl  one JSON object per line

Swipes (alternative versions of a reply) live inside their message:
``"swipes"`` lists every alternative, ``"swipe"`` is the index of the chosen
one and ``"swipe_meta"`` holds each one's status, metrics and finish reason.
``text`` always equals the chosen swipe, so a reader that knows nothing of
swipes (and the prompt) sees the chosen version. ``Message.swipes()``,
``add_swipe``, ``select_swipe`` and ``set_text`` keep that true.

Crash safety rests on two rules (every write goes through ``tui.core.fsio``):

- ``append`` writes one whole line and fsyncs before returning, so a message
  it acknowledged survives a killed process. A line is committed by its
  terminating newline: a final line without one was never acknowledged.
- Every rewrite (chat.toml, profile.toml, an edit of messages.jsonl) is
  atomic: temp file, fsync, rename, folder fsync.

Reading repairs instead of raising. A final line that is unterminated or
does not parse (a torn write), and any corrupt line in the middle, are moved
byte-for-byte, in order, to a side file ``messages.jsonl.torn-<timestamp>``
in the chat folder; the main file is rewritten atomically with every other
line kept exactly as it was; ``LoadReport.torn`` names the side file.

Lines whose ``"v"`` is newer than ``MESSAGE_VERSION``: the file is left
untouched and reading raises ``StoreError`` ("written by a newer Candlelit").
We neither guess at their meaning nor drop them, and because nothing is
rewritten, a newer Candlelit finds its data intact.

Versioned TOML files upgrade through a chain of small step functions
(``_CHAT_UPGRADES``, ``_PROFILE_UPGRADES``); a newer version raises.

One writer per profile is assumed (one Candlelit process); within a process
a lock serialises mutations so a worker thread may append safely.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import json
import os
import re
import secrets
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from tui.core.storage.message_log import MessageLog
from tui.core.fsio import (
    append_line,
    as_path,
    atomic_write,
    ensure_dir,
    fsync_dir,
    is_sealed,
    remove_tree,
    rename,
)

MESSAGE_VERSION = 1
CHAT_VERSION = 1
PROFILE_VERSION = 1

ROLES = ("user", "assistant", "system")
SCENE_STATE_KEYS = ("paused", "paused_by", "ended")  # [scene] keys that are state, not settings
STATUSES = ("ok", "stopped", "error")

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MESSAGE_KEYS = ("v", "id", "speaker", "role", "text", "created", "status", "metrics")

T = TypeVar("T")


# --------------------------------------------------------------------------
# errors


class StoreError(CandlelitError):
    """A storage problem the user can act on; ``str()`` is one clear line."""


class ChatNotFound(StoreError):
    """The chat id names no chat in this profile."""


class MessageNotFound(StoreError):
    """The message id names no message in this chat."""


class InvalidId(StoreError):
    """An id from outside that could escape its folder or is malformed."""


# --------------------------------------------------------------------------
# small helpers


def utc_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2024-05-01T12:00:00.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_message_id() -> str:
    """Sortable unique id: 13 hex digits of ms since epoch + 6 random hex."""
    return f"{time.time_ns() // 1_000_000:013x}{secrets.token_hex(3)}"


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a safe id (``[A-Za-z0-9_-]``, 1-128 chars)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise InvalidId(
            f"invalid {what} {value!r}: use only letters, digits, '-' and '_'"
        )
    return value


def _one_line(text: str) -> str:
    """Collapse whitespace and drop control characters (for titles)."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())


def _dump_line(obj: dict[str, Any]) -> str:
    """One JSONL line; readable UTF-8 unless the text holds lone surrogates."""
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return line


def _dump_messages(msgs: list[Message]) -> str:
    return "".join(_dump_line(m.to_json()) + "\n" for m in msgs)


def _sort_time(stamp: str) -> float:
    try:
        dt = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


# --------------------------------------------------------------------------
# records


@dataclass
class Message:
    id: str
    speaker: str
    role: str
    text: str
    created: str
    status: str = "ok"
    metrics: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        speaker: str,
        role: str,
        text: str,
        *,
        status: str = "ok",
        metrics: dict | None = None,
    ) -> Message:
        """A fresh message with a new id and the current time."""
        if role not in ROLES:
            raise StoreError(f"unknown message role {role!r} (use one of {', '.join(ROLES)})")
        if status not in STATUSES:
            raise StoreError(f"unknown message status {status!r} (use one of {', '.join(STATUSES)})")
        return cls(new_message_id(), speaker, role, text, utc_now(), status, metrics)

    def to_json(self) -> dict:
        d: dict[str, Any] = dict(self.extra)
        d.update(
            v=MESSAGE_VERSION,
            id=self.id,
            speaker=self.speaker,
            role=self.role,
            text=self.text,
            created=self.created,
            status=self.status,
        )
        if self.metrics is not None:
            d["metrics"] = self.metrics
        return d

    @classmethod
    def from_json(cls, d: Any) -> Message:
        """Build from one parsed line; ``ValueError`` if it is not a message.

        Lines with a newer ``"v"`` are rejected by the caller before this.
        """
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        for key in ("id", "role", "text"):
            if not isinstance(d.get(key), str):
                raise ValueError(f"missing or non-text {key!r}")
        speaker = d.get("speaker", "")
        created = d.get("created", "")
        status = d.get("status", "ok")
        metrics = d.get("metrics")
        if not isinstance(speaker, str) or not isinstance(created, str):
            raise ValueError("speaker and created must be text")
        if not isinstance(status, str):
            raise ValueError("status must be text")
        if metrics is not None and not isinstance(metrics, dict):
            raise ValueError("metrics must be an object")
        extra = {k: v for k, v in d.items() if k not in _MESSAGE_KEYS}
        return cls(d["id"], speaker, d["role"], d["text"], created, status, metrics, extra)

    # swipes ------------------------------------------------------------------

    def swipes(self) -> list[str]:
        """Every alternative of this message (just ``[text]`` when it has none)."""
        stored = self._stored_swipes()
        if stored is None:
            return [self.text]
        swipes = list(stored)
        swipes[self.swipe_index()] = self.text  # ``text`` wins over a stale copy
        return swipes

    def swipe_index(self) -> int:
        """Index of the chosen alternative in ``swipes()``."""
        stored = self._stored_swipes()
        if stored is None:
            return 0
        index = self.extra.get("swipe")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(stored):
            return index
        return len(stored) - 1

    def _stored_swipes(self) -> list[str] | None:
        stored = self.extra.get("swipes")
        if isinstance(stored, list) and stored and all(isinstance(s, str) for s in stored):
            return stored
        return None  # none, or hand-broken: treated as none

    def set_text(self, text: str) -> None:
        """Change the text (and the chosen swipe with it)."""
        self.text = text
        if "swipes" in self.extra:
            self._save_swipes(self.swipes(), self._swipe_meta(), self.swipe_index())

    def add_swipe(
        self,
        text: str,
        *,
        status: str = "ok",
        metrics: dict | None = None,
        finish: str | None = None,
    ) -> None:
        """Append ``text`` as a new alternative and choose it."""
        if status not in STATUSES:
            raise StoreError(f"unknown message status {status!r} (use one of {', '.join(STATUSES)})")
        swipes, meta = self.swipes(), self._swipe_meta()
        swipes.append(text)
        meta.append(_meta(status, metrics, finish))
        self._save_swipes(swipes, meta, self.swipe_index())
        self.select_swipe(len(swipes) - 1)

    def select_swipe(self, index: int) -> None:
        """Choose alternative ``index``: text, status, metrics and finish follow."""
        swipes, meta = self.swipes(), self._swipe_meta()
        if not 0 <= index < len(swipes):
            raise StoreError(f"no swipe {index} (this message has {len(swipes)})")
        self._save_swipes(swipes, meta, self.swipe_index())  # remember the current one
        chosen = meta[index]
        self.text = swipes[index]
        status = chosen.get("status", "ok")
        self.status = status if status in STATUSES else "ok"
        metrics = chosen.get("metrics")
        self.metrics = dict(metrics) if isinstance(metrics, dict) else None
        finish = chosen.get("finish")
        if isinstance(finish, str):
            self.extra["finish"] = finish
        else:
            self.extra.pop("finish", None)
        self.extra["swipe"] = index

    def _swipe_meta(self) -> list[dict]:
        """Per-swipe status/metrics, aligned with ``swipes()``; the chosen
        one reflects the message's current fields."""
        n = len(self.swipes())
        stored = self.extra.get("swipe_meta")
        meta = [dict(m) if isinstance(m, dict) else {} for m in stored] if isinstance(stored, list) else []
        meta = (meta + [{} for _ in range(n)])[:n]
        finish = self.extra.get("finish")
        meta[self.swipe_index()] = _meta(
            self.status, self.metrics, finish if isinstance(finish, str) else None
        )
        return meta

    def _save_swipes(self, swipes: list[str], meta: list[dict], index: int) -> None:
        self.extra["swipes"] = list(swipes)
        self.extra["swipe"] = index
        self.extra["swipe_meta"] = [dict(m) for m in meta]


def _meta(status: str, metrics: dict | None, finish: str | None) -> dict:
    out: dict[str, Any] = {"status": status}
    if metrics is not None:
        out["metrics"] = dict(metrics)
    if finish is not None:
        out["finish"] = finish
    return out


@dataclass
class ChatInfo:
    id: str
    title: str
    characters: list[str]
    personas: list[str]
    created: str
    updated: str
    path: Path
    parent: str | None = None           # the chat this one was branched from
    parent_message: str | None = None   # the last message copied from it
    scene: dict = field(default_factory=dict)  # chat.toml [scene], as stored


@dataclass
class LoadReport:
    """What loading had to repair. ``torn`` lists side files it created."""

    torn: list[Path] = field(default_factory=list)


@dataclass
class StoreProblem:
    """Something ``list_chats`` skipped rather than crash on."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --------------------------------------------------------------------------
# version upgrades: one step function per version, applied in a chain


def upgrade(
    data: dict,
    steps: dict[int, Callable[[dict], dict]],
    current: int,
    what: str,
) -> dict:
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreError(f"{what} has an invalid version {version!r}")
    if version > current:
        raise StoreError(
            f"{what} was written by a newer Candlelit (version {version}, this one reads "
            f"up to {current}); update Candlelit to open it"
        )
    while version < current:
        data = steps[version](data)
        version = data["version"]
    return data


# Add ``n: _chat_v{n}_to_v{n+1}`` entries here when CHAT_VERSION grows.
_CHAT_UPGRADES: dict[int, Callable[[dict], dict]] = {}
_PROFILE_UPGRADES: dict[int, Callable[[dict], dict]] = {}


def _upgrade_chat_toml(data: dict) -> dict:
    return upgrade(data, _CHAT_UPGRADES, CHAT_VERSION, "chat.toml")


def _upgrade_profile_toml(data: dict) -> dict:
    return upgrade(data, _PROFILE_UPGRADES, PROFILE_VERSION, "profile.toml")


def read_toml(path: Path, what: str) -> dict:
    """A TOML file as a table; a clear ``StoreError`` naming ``what`` otherwise."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise StoreError(f"{what} is not valid TOML ({e}); fix or remove {path}") from None
    except UnicodeDecodeError:
        raise StoreError(f"{what} is not UTF-8 text; fix or remove {path}") from None
    except IsADirectoryError:
        raise StoreError(f"{what} is a folder, not a file: {path}") from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None


def _write_toml(path: Path, data: dict, what: str) -> None:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError) as e:
        raise StoreError(f"cannot save {what}: {e}") from None
    atomic_write(path, text)


def _str_list(value: object, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoreError(f"chat.toml: {key!r} must be a list of names")
    return list(value)


# --------------------------------------------------------------------------
# the store


class Store:
    """Chats, messages and profile settings of one profile folder."""

    def __init__(self, profile_dir: Path) -> None:
        self.root = as_path(profile_dir)
        self.problems: list[StoreProblem] = []
        self._lock = threading.RLock()
        self._logs: dict[str, MessageLog] = {}

    # paths ---------------------------------------------------------------

    @property
    def chats_dir(self) -> Path:
        return self.root / "chats"

    @property
    def characters_dir(self) -> Path:
        return self.root / "characters"

    @property
    def profile_file(self) -> Path:
        return self.root / "profile.toml"

    def character_dir(self, slug: str) -> Path:
        return self.characters_dir / check_id(slug, "character slug")

    def chat_dir(self, chat_id: str) -> Path:
        return self.chats_dir / check_id(chat_id, "chat id")

    # chats ---------------------------------------------------------------

    def new_chat(
        self,
        characters: list[str],
        personas: list[str],
        title: str = "",
        *,
        parent: str | None = None,
        parent_message: str | None = None,
        scene: dict | None = None,
    ) -> ChatInfo:
        """Create a chat folder; it appears complete or not at all.

        ``scene``: the ``[scene]`` table to record (see ``tui.core.scene.rules``)."""
        return self._create_chat(characters, personas, title, parent, parent_message, [], scene)

    def branch_chat(self, chat_id: str, msg_id: str, title: str | None = None) -> ChatInfo:
        """A new chat holding ``chat_id``'s messages up to and including
        ``msg_id`` (ids, swipes and all), recording where it came from.

        The new chat appears complete (chat.toml and messages) or not at all.
        """
        check_id(msg_id, "message id")
        with self._lock:
            source = self.chat(chat_id)
            msgs, _ = self.messages(chat_id)
            for i, m in enumerate(msgs):
                if m.id == msg_id:
                    break
            else:
                raise MessageNotFound(f"no message {msg_id!r} in chat {chat_id!r}")
            name = title if title is not None else f"{source.title or chat_id} (branch)"
            # the branch keeps the scene's settings, not its pause: it is a new start
            scene = {k: v for k, v in source.scene.items() if k not in SCENE_STATE_KEYS}
            return self._create_chat(
                source.characters, source.personas, name, chat_id, msg_id, msgs[: i + 1], scene
            )

    def _create_chat(
        self,
        characters: list[str],
        personas: list[str],
        title: str,
        parent: str | None,
        parent_message: str | None,
        msgs: list[Message],
        scene: dict | None = None,
    ) -> ChatInfo:
        characters = [check_id(c, "character slug") for c in characters]
        personas = [str(p) for p in personas]
        if parent is not None:
            check_id(parent, "chat id")
        if parent_message is not None:
            check_id(parent_message, "message id")
        with self._lock:
            chats = ensure_dir(self.chats_dir)
            while True:
                stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
                chat_id = f"{stamp}-{secrets.token_hex(2)}"
                final = chats / chat_id
                staging = chats / f".new-{chat_id}"
                if not final.exists() and not staging.exists():
                    break
            now = utc_now()
            data = {
                "version": CHAT_VERSION,
                "id": chat_id,
                "title": _one_line(title),
                "characters": characters,
                "personas": personas,
                "created": now,
                "updated": now,
            }
            if parent is not None:
                data["parent"] = parent
            if parent_message is not None:
                data["parent_message"] = parent_message
            if scene:
                data["scene"] = dict(scene)
            ensure_dir(staging)
            _write_toml(staging / "chat.toml", data, "chat.toml")
            if msgs:
                atomic_write(staging / "messages.jsonl", _dump_messages(msgs))
            rename(staging, final)
            fsync_dir(chats)
            return self._info(chat_id, data)

    def chat(self, chat_id: str) -> ChatInfo:
        data = self._read_chat_toml(chat_id)
        return self._info(chat_id, data)

    def list_chats(self) -> list[ChatInfo]:
        """Chats, newest ``updated`` first. Broken ones go to ``self.problems``."""
        self.problems = []
        chats: list[ChatInfo] = []
        try:
            entries = sorted(self.chats_dir.iterdir(), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StoreError(f"cannot read {self.chats_dir}: {e.strerror or e}") from None
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not _ID_RE.fullmatch(entry.name):
                self.problems.append(
                    StoreProblem(entry, "folder name is not a valid chat id; skipped")
                )
                continue
            if not (entry / "chat.toml").is_file():
                self.problems.append(StoreProblem(entry, "no chat.toml; skipped"))
                continue
            try:
                chats.append(self.chat(entry.name))
            except StoreError as e:
                self.problems.append(StoreProblem(entry, str(e)))
        chats.sort(key=lambda c: (_sort_time(c.updated), c.updated, c.id), reverse=True)
        return chats

    def messages(self, chat_id: str) -> tuple[list[Message], LoadReport]:
        """All messages in order; torn or corrupt lines are set aside, never raised."""
        self._read_chat_toml(chat_id)
        with self._lock:
            return self._load_messages(chat_id)

    def append(self, chat_id: str, msg: Message) -> None:
        """Append one message; it is on disk (fsync) when this returns."""
        with self._lock:
            data = self._read_chat_toml(chat_id)
            path = self.chat_dir(chat_id) / "messages.jsonl"
            if self._has_torn_tail(path):
                # Never glue a new line onto a torn fragment: set it aside first.
                self._load_messages(chat_id)
            line = _dump_line(msg.to_json())
            append_line(path, line)
            log = self._logs.get(chat_id)
            if log is not None:
                log.appended((line + "\n").encode("utf-8"))
            self._touch(chat_id, data)

    def replace_messages(self, chat_id: str, msgs: list[Message]) -> None:
        """Atomically replace the whole message list."""
        with self._lock:
            data = self._read_chat_toml(chat_id)
            atomic_write(self.chat_dir(chat_id) / "messages.jsonl", _dump_messages(msgs))
            self._forget_log(chat_id)
            self._touch(chat_id, data)

    def modify_messages(self, chat_id: str, change: Callable[[list[Message]], T]) -> T:
        """Read, let ``change`` edit the list in place, rewrite atomically.

        Runs under the store lock, so nothing else in this process writes the
        chat in between. Returns what ``change`` returns; if it raises,
        nothing is written.
        """
        with self._lock:
            msgs, _ = self.messages(chat_id)
            result = change(msgs)
            self.replace_messages(chat_id, msgs)
            return result

    def update_message(
        self, chat_id: str, msg_id: str, change: Callable[[Message], None]
    ) -> Message:
        """Apply ``change`` to one message and rewrite atomically; return it."""

        def apply(msgs: list[Message]) -> Message:
            for m in msgs:
                if m.id == msg_id:
                    change(m)
                    return m
            raise MessageNotFound(f"no message {msg_id!r} in chat {chat_id!r}")

        return self.modify_messages(chat_id, apply)

    def edit_message(self, chat_id: str, msg_id: str, text: str) -> Message:
        """Replace a message's text (its chosen swipe changes with it)."""
        return self.update_message(chat_id, msg_id, lambda m: m.set_text(text))

    def search(self, chat_id: str, query: str) -> list[tuple[Message, list[tuple[int, int]]]]:
        """Messages whose text contains ``query`` (case-insensitive), with the
        ``(start, end)`` span of every match in ``message.text``. A blank
        query finds nothing."""
        return [(m, spans) for _pos, m, spans in self.search_positions(chat_id, query)]

    def search_positions(
        self, chat_id: str, query: str
    ) -> list[tuple[int, Message, list[tuple[int, int]]]]:
        """Like ``search``, with each hit's position in the chat: the whole
        chat is searched, reading the file once and parsing only the lines
        that contain the query somewhere."""
        if not query.strip():
            return []
        pattern = re.compile(re.escape(query), re.IGNORECASE)
        # the query as it is written in a line, matched the same case-blind way
        # (casefold() differs: "İ" folds to two characters, re matches it to "i")
        written = re.compile(re.escape(json.dumps(query, ensure_ascii=False)[1:-1]), re.IGNORECASE)
        hits: list[tuple[int, Message, list[tuple[int, int]]]] = []
        with self._lock:
            log = self._log(chat_id)
            lines = log.raw_lines()
        for pos, raw in lines:
            line = raw.decode("utf-8", "replace")
            if not written.search(line) and "\\u" not in line:
                continue  # cannot match (an escaped line is parsed to be sure)
            m = _parse_line(raw)
            spans = [match.span() for match in pattern.finditer(m.text)]
            if spans:
                hits.append((pos, m, spans))
        return hits

    # reading by position (any length: see tui.core.storage.message_log) ------------

    def count(self, chat_id: str) -> int:
        """How many messages the chat has, without reading them."""
        self._read_chat_toml(chat_id)
        with self._lock:
            return self._log(chat_id).count()

    def page(self, chat_id: str, start: int, stop: int) -> list[Message]:
        """Messages ``start`` to ``stop`` of the chat (clamped like a slice)."""
        with self._lock:
            return self._log(chat_id).slice(start, stop)

    def tail(self, chat_id: str, n: int) -> tuple[list[Message], int]:
        """The last ``n`` messages and the position of the first of them."""
        with self._lock:
            log = self._log(chat_id)
            total = log.count()
            start = max(0, total - n)
            return log.slice(start, total), start

    def position(self, chat_id: str, msg_id: str) -> int | None:
        """Where the message ``msg_id`` is in the chat (None: not there)."""
        with self._lock:
            return self._log(chat_id).find_id(msg_id)

    def last_message(self, chat_id: str) -> tuple[int, Message | None]:
        """(message count, last message): what a chat list shows."""
        with self._lock:
            log = self._log(chat_id)
            n = log.count()
            last = log.slice(n - 1, n) if n else []
            return n, (last[0] if last else None)

    def flush_indexes(self) -> None:
        """Write every chat's position index that fell behind (on leaving)."""
        with self._lock:
            for log in self._logs.values():
                log.flush()

    def check(self, chat_id: str) -> LoadReport:
        """Make sure the chat reads in order, without reading all of it when
        its index is up to date: torn or corrupt lines are set aside (the
        report names the side files), as ``messages`` does."""
        self._read_chat_toml(chat_id)
        with self._lock:
            report = LoadReport()
            self._log(chat_id, report)
            return report

    def _log(self, chat_id: str, report: LoadReport | None = None) -> MessageLog:
        """The chat's log, up to date with its file (repaired first if the
        file has a torn or corrupt line). Call with the lock held."""
        log = self._logs.get(chat_id)
        if log is None:
            path = self.chat_dir(chat_id) / "messages.jsonl"
            log = self._logs[chat_id] = MessageLog(path, _parse_line)
        if not log.refresh():
            _msgs, repaired = self._load_messages(chat_id)  # sets the bad lines aside
            if report is not None:
                report.torn.extend(repaired.torn)
            if not log.refresh():
                raise StoreError(f"chat '{chat_id}': messages.jsonl cannot be read in order; see its .torn files")
        return log

    def _forget_log(self, chat_id: str) -> None:
        log = self._logs.get(chat_id)
        if log is not None:
            log.forget()

    def delete_from(self, chat_id: str, msg_id: str) -> int:
        """Delete that message and every later one; return how many went."""
        with self._lock:
            msgs, _ = self.messages(chat_id)
            for i, m in enumerate(msgs):
                if m.id == msg_id:
                    self.replace_messages(chat_id, msgs[:i])
                    return len(msgs) - i
            raise MessageNotFound(f"no message {msg_id!r} in chat {chat_id!r}")

    def update_scene(self, chat_id: str, **values: Any) -> ChatInfo:
        """Set keys of the chat's ``[scene]`` table (one atomic rewrite of
        chat.toml); a value of ``None`` removes its key."""
        with self._lock:
            data = self._read_chat_toml(chat_id)
            table = data.get("scene")
            table = dict(table) if isinstance(table, dict) else {}
            for key, value in values.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            data["scene"] = table
            _write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")
            return self._info(chat_id, data)

    def rename_chat(self, chat_id: str, title: str) -> None:
        with self._lock:
            data = self._read_chat_toml(chat_id)
            data["title"] = _one_line(title)
            _write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")

    def delete_chat(self, chat_id: str) -> None:
        """Remove the chat folder and everything in it."""
        with self._lock:
            folder = self.chat_dir(chat_id)
            if not folder.is_dir():
                raise ChatNotFound(f"no chat '{chat_id}' (see `candlelit chat list`)")
            # Rename first so a crash mid-delete never leaves a half chat listed.
            doomed = self.chats_dir / f".deleted-{chat_id}-{secrets.token_hex(3)}"
            rename(folder, doomed)
            self._logs.pop(chat_id, None)
            fsync_dir(self.chats_dir)
            for leftover in list(self.chats_dir.glob(".deleted-*")):
                remove_tree(leftover)

    # profile ---------------------------------------------------------------

    def load_profile(self, persona: dict[str, str] | None = None) -> dict:
        """Read profile.toml, creating it with defaults if it is missing.

        ``persona`` gives the default ``name``/``description`` for a new file
        (and fills missing keys of an existing one in the returned dict).
        """
        default_persona = {"name": "You", "description": ""}
        default_persona.update(persona or {})
        with self._lock:
            if not self.profile_file.exists():
                data = {
                    "version": PROFILE_VERSION,
                    "persona": default_persona,
                    "starters_installed": [],
                }
                ensure_dir(self.root)
                _write_toml(self.profile_file, data, "profile.toml")
                return data
            data = _upgrade_profile_toml(read_toml(self.profile_file, "profile.toml"))
        section = data.get("persona")
        if not isinstance(section, dict):
            section = {}
        data["persona"] = {**default_persona, **section}
        if not isinstance(data.get("starters_installed"), list):
            data["starters_installed"] = []
        return data

    def save_profile(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise StoreError("profile data must be a table")
        version = data.get("version", PROFILE_VERSION)
        if isinstance(version, int) and version > PROFILE_VERSION:
            raise StoreError(f"cannot save profile.toml version {version} (this Candlelit writes {PROFILE_VERSION})")
        out = {**data, "version": PROFILE_VERSION}
        with self._lock:
            ensure_dir(self.root)
            _write_toml(self.profile_file, out, "profile.toml")

    # internals -------------------------------------------------------------

    def _read_chat_toml(self, chat_id: str) -> dict:
        path = self.chat_dir(chat_id) / "chat.toml"
        if not path.is_file():
            raise ChatNotFound(f"no chat '{chat_id}' (see `candlelit chat list`)")
        data = read_toml(path, f"chat '{chat_id}': chat.toml")
        try:
            return _upgrade_chat_toml(data)
        except StoreError as e:
            raise StoreError(f"chat '{chat_id}': {e}") from None

    def _info(self, chat_id: str, data: dict) -> ChatInfo:
        try:
            characters = _str_list(data.get("characters", []), "characters")
            personas = _str_list(data.get("personas", []), "personas")
        except StoreError as e:
            raise StoreError(f"chat '{chat_id}': {e}") from None
        scene = data.get("scene", {})
        if not isinstance(scene, dict):
            raise StoreError(f"chat '{chat_id}': chat.toml [scene] must be a table")
        title, created, updated = (data.get(k, "") for k in ("title", "created", "updated"))
        parent, parent_message = (data.get(k) for k in ("parent", "parent_message"))
        return ChatInfo(
            id=chat_id,
            title=title if isinstance(title, str) else str(title),
            characters=characters,
            personas=personas,
            created=created if isinstance(created, str) else str(created),
            updated=updated if isinstance(updated, str) else str(updated),
            path=self.chat_dir(chat_id),
            parent=parent if isinstance(parent, str) and parent else None,
            parent_message=parent_message if isinstance(parent_message, str) and parent_message else None,
            scene=dict(scene),
        )

    def _touch(self, chat_id: str, data: dict) -> None:
        data = {**data, "updated": utc_now()}
        _write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")

    @staticmethod
    def _has_torn_tail(path: Path) -> bool:
        if is_sealed(path):
            return False  # sealed files are rewritten whole: never torn
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return False
                f.seek(-1, os.SEEK_END)
                return f.read(1) != b"\n"
        except FileNotFoundError:
            return False
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None

    def _load_messages(self, chat_id: str) -> tuple[list[Message], LoadReport]:
        folder = self.chat_dir(chat_id)
        path = folder / "messages.jsonl"
        report = LoadReport()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return [], report
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror or e}") from None

        # Split keeping each line's own bytes (with its "\n", if it has one).
        lines = _split_nl(raw)
        msgs: list[Message] = []
        keep: list[bytes] = []
        bad: list[bytes] = []
        newer: int | None = None
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line.endswith(b"\n"):
                bad.append(line)  # never acknowledged: a torn append
                continue
            if not line.strip():
                keep.append(line)
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
                v = obj.get("v", 1) if isinstance(obj, dict) else None
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    raise ValueError("bad line version")
                if v > MESSAGE_VERSION:
                    newer = max(newer or 0, v)
                    keep.append(line)
                    continue
                msgs.append(Message.from_json(obj))
                keep.append(line)
            except (ValueError, UnicodeDecodeError):
                bad.append(line)

        if newer is not None:
            raise StoreError(
                f"chat '{chat_id}' has messages written by a newer Candlelit (line format "
                f"v{newer}, this one reads v{MESSAGE_VERSION}); update Candlelit to open it"
            )
        if bad:
            side = self._side_file(folder)
            atomic_write(side, b"".join(bad))  # the bytes are safe before we drop them
            atomic_write(path, b"".join(keep))
            self._forget_log(chat_id)
            report.torn.append(side)
        return msgs, report

    @staticmethod
    def _side_file(folder: Path) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        side = folder / f"messages.jsonl.torn-{stamp}"
        n = 2
        while side.exists():
            side = folder / f"messages.jsonl.torn-{stamp}-{n}"
            n += 1
        return side

    # imports (tui.core.profile.st_chats) -------------------------------------------

    def import_chat(
        self,
        characters: list[str],
        personas: list[str],
        title: str,
        msgs: list[Message],
        *,
        scene: dict | None = None,
        table: dict | None = None,
        created: str | None = None,
        updated: str | None = None,
    ) -> ChatInfo:
        """A new chat holding ``msgs`` as given (ids, times and swipes kept),
        staged and renamed into place like ``branch_chat``: it appears with
        all its messages or not at all.

        ``table`` becomes chat.toml's ``[import]`` table (where the chat came
        from); ``created``/``updated`` replace the chat's own times with the
        history's. Those go in by a second atomic rewrite of chat.toml; if
        that fails, the new chat is deleted again before the error goes on.
        """
        with self._lock:
            info = self._create_chat(characters, personas, title, None, None, msgs, scene)
            if not (table or created or updated):
                return info
            try:
                data = self._read_chat_toml(info.id)
                if table:
                    data["import"] = dict(table)
                if created:
                    data["created"] = created
                if updated:
                    data["updated"] = updated
                _write_toml(self.chat_dir(info.id) / "chat.toml", data, "chat.toml")
            except BaseException:
                self.delete_chat(info.id)
                raise
            return self._info(info.id, data)


def _parse_line(raw: bytes) -> Message:
    """One stored line as a message; ``ValueError`` for a corrupt line and
    ``StoreError`` for one written by a newer Candlelit."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(str(e)) from None
    v = obj.get("v", 1) if isinstance(obj, dict) else None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("bad line version")
    if v > MESSAGE_VERSION:
        raise StoreError(
            f"a chat has messages written by a newer Candlelit (line format v{v}, this "
            f"one reads v{MESSAGE_VERSION}); update Candlelit to open it"
        )
    return Message.from_json(obj)


def _split_nl(raw: bytes) -> list[bytes]:
    """Split into lines that keep their own b"\\n"; only b"\\n" ends a line."""
    parts = raw.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out
