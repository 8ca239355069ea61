"""The stored message and chat records, their ids and id validation.

See docs/ARCHITECTURE.md (storage) for the on-disk layout.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

from tui.core.storage.errors import InvalidId, StoreError

MESSAGE_VERSION = 1

Role = Literal["user", "assistant", "system"]
Status = Literal["ok", "stopped", "error"]
ROLES: tuple[Role, ...] = get_args(Role)
STATUSES: tuple[Status, ...] = get_args(Status)

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""A safe id: letters, digits, '-' and '_', 1-128 characters (chat ids,
message ids, character slugs); it can never name a path outside its folder."""

_MESSAGE_KEYS = ("v", "id", "speaker", "role", "text", "created", "status", "metrics")


def utc_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2024-05-01T12:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_message_id() -> str:
    """Sortable unique id: 13 hex digits of ms since epoch + 6 random hex."""
    return f"{time.time_ns() // 1_000_000:013x}{secrets.token_hex(3)}"


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a safe id (``[A-Za-z0-9_-]``, 1-128 chars)."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidId(
            f"invalid {what} {value!r}: use only letters, digits, '-' and '_'"
        )
    return value


@dataclass
class Message:
    """One line of messages.jsonl.

    Swipes (alternative versions of a reply) live inside their message:
    ``extra["swipes"]`` lists every alternative, ``extra["swipe"]`` is the
    index of the chosen one and ``extra["swipe_meta"]`` holds each one's
    status, metrics and finish reason. ``text`` always equals the chosen
    swipe, so a reader that knows nothing of swipes (and the prompt) sees the
    chosen version; ``swipes()``, ``add_swipe``, ``select_swipe`` and
    ``set_text`` keep that true. Unknown keys stay in ``extra`` verbatim.
    """

    id: str
    speaker: str
    role: Role
    text: str
    created: str
    status: Status = "ok"
    metrics: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        speaker: str,
        role: Role,
        text: str,
        *,
        status: Status = "ok",
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
        # kept as written: a status from a newer version still loads
        return cls(d["id"], speaker, d["role"], d["text"], created, cast(Status, status), metrics, extra)

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
        status: Status = "ok",
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
