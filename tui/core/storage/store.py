"""The Store: chats, messages and profile.toml of one profile folder.

Every write goes through ``tui.core.fsio``: an append is one whole line,
fsync'd before it returns; every rewrite is atomic. One writer per profile is
assumed; within a process a lock serialises mutations. See
docs/ARCHITECTURE.md (storage) for the layout and crash-safety rules.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tui.core.fsio import append_line, as_path, atomic_write, ensure_dir, fsync_dir, remove_tree, rename
from tui.core.storage.errors import ChatNotFound, MessageNotFound, StoreError
from tui.core.storage.jsonl import dump_line, dump_messages, has_torn_tail, parse_line, read_repairing
from tui.core.storage.locks import WriteLock
from tui.core.storage.message_log import MessageLog
from tui.core.storage.model import ID_RE, ChatInfo, LoadReport, Message, StoreProblem, check_id, utc_now
from tui.core.storage.toml_files import (
    CHAT_VERSION,
    PROFILE_VERSION,
    read_toml,
    str_list,
    upgrade_chat_toml,
    upgrade_profile_toml,
    write_toml,
)

SCENE_STATE_KEYS = ("paused", "paused_by", "ended")  # [scene] keys that are state, not settings

T = TypeVar("T")


def _one_line(text: str) -> str:
    """Collapse whitespace and drop control characters (for titles)."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())


def _sort_time(stamp: str) -> float:
    try:
        dt = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return 0.0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class Store:
    """Chats, messages and profile settings of one profile folder."""

    def __init__(self, profile_dir: Path, write_lock: Path | None = None) -> None:
        self.root = as_path(profile_dir)
        self.problems: list[StoreProblem] = []
        # threads of this process, and (with ``write_lock``) other processes on
        # the same profile: every read-modify-write and repair runs alone
        self._lock = WriteLock(write_lock)
        self._logs: dict[str, MessageLog] = {}

    def writing(self) -> WriteLock:
        """Hold the profile's write lock (this thread alone, and no other
        process) around a read-modify-write outside the store."""
        return self._lock

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
            i = next((n for n, m in enumerate(msgs) if m.id == msg_id), None)
            if i is None:
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
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
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
            write_toml(staging / "chat.toml", data, "chat.toml")
            if msgs:
                atomic_write(staging / "messages.jsonl", dump_messages(msgs))
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
        stale = [e for e in entries if e.name.startswith(".new-") and e.is_dir()]
        if stale:
            # a new chat or branch is staged and renamed under the write lock,
            # so one still here when we hold it was cut short by a crash
            with self._lock:
                for entry in stale:
                    if entry.is_dir():
                        remove_tree(entry)
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not ID_RE.fullmatch(entry.name):
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
            if has_torn_tail(path):
                # Never glue a new line onto a torn fragment: set it aside first.
                self._load_messages(chat_id)
            line = dump_line(msg.to_json())
            append_line(path, line)
            log = self._logs.get(chat_id)
            if log is not None:
                log.appended((line + "\n").encode("utf-8"))
            self._touch(chat_id, data)

    def replace_messages(self, chat_id: str, msgs: list[Message]) -> None:
        """Atomically replace the whole message list."""
        with self._lock:
            data = self._read_chat_toml(chat_id)
            atomic_write(self.chat_dir(chat_id) / "messages.jsonl", dump_messages(msgs))
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
            m = parse_line(raw)
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
            log = self._logs[chat_id] = MessageLog(path, parse_line)
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
            write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")
            return self._info(chat_id, data)

    def rename_chat(self, chat_id: str, title: str) -> None:
        with self._lock:
            data = self._read_chat_toml(chat_id)
            data["title"] = _one_line(title)
            write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")

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
                write_toml(self.profile_file, data, "profile.toml")
                return data
            data = upgrade_profile_toml(read_toml(self.profile_file, "profile.toml"))
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
            write_toml(self.profile_file, out, "profile.toml")

    # internals -------------------------------------------------------------

    def _load_messages(self, chat_id: str) -> tuple[list[Message], LoadReport]:
        msgs, report = read_repairing(self.chat_dir(chat_id) / "messages.jsonl", chat_id)
        if report.torn:
            self._forget_log(chat_id)
        return msgs, report

    def _read_chat_toml(self, chat_id: str) -> dict:
        path = self.chat_dir(chat_id) / "chat.toml"
        if not path.is_file():
            raise ChatNotFound(f"no chat '{chat_id}' (see `candlelit chat list`)")
        data = read_toml(path, f"chat '{chat_id}': chat.toml")
        try:
            return upgrade_chat_toml(data)
        except StoreError as e:
            raise StoreError(f"chat '{chat_id}': {e}") from None

    def _info(self, chat_id: str, data: dict) -> ChatInfo:
        try:
            characters = str_list(data.get("characters", []), "characters")
            personas = str_list(data.get("personas", []), "personas")
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
        write_toml(self.chat_dir(chat_id) / "chat.toml", data, "chat.toml")

    # imports (tui.core.profile.st_import) -------------------------------------------

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
                write_toml(self.chat_dir(info.id) / "chat.toml", data, "chat.toml")
            except BaseException:
                self.delete_chat(info.id)
                raise
            return self._info(info.id, data)
