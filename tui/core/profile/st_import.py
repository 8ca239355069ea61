"""A SillyTavern chat imported as a new Candlelit chat; written whole or not at all."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.core.profile.personas import add_persona
from tui.core.profile.st_cast import Cast, clean_name, find_cast, is_hidden, is_user, line_kind, name_key
from tui.core.profile.st_read import SYSTEM_NAME, StChat, location, message_text, read_st_file, swipe_list
from tui.core.profile.st_time import iso, parse_iso, parse_st_time
from tui.core.profile.workspace import Workspace
from tui.core.scene.rules import SceneSettings, scene_settings_to_toml
from tui.core.storage.model import ChatInfo, Message, Role

NATIVE_KEYS = ("mes", "swipes", "swipe_id")  # held by the Message itself, not in extra["st"]


@dataclass
class ImportResult:
    info: ChatInfo
    messages: int
    group: bool
    warnings: list[str] = field(default_factory=list)
    created_personas: list[str] = field(default_factory=list)


def st_to_messages(chat: StChat, cast: Cast, *, now_ms: int | None = None) -> list[Message]:
    """The chat's lines as Candlelit messages (see the module docstring)."""
    header = chat.header or {}
    header_char = clean_name(header.get("character_name"))
    header_user = clean_name(header.get("user_name"))
    fallback = (
        parse_st_time(header.get("create_date"))
        or (datetime.fromtimestamp(chat.mtime, UTC) if chat.mtime else None)
        or datetime.now(UTC)
    )
    fallback_iso = iso(fallback)
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    base = now_ms - len(chat.lines) - 1  # ids sort in chat order, before any new message
    out: list[Message] = []
    last_iso = fallback_iso
    for i, ln in enumerate(chat.lines):
        o = ln.obj
        text = message_text(o.get("mes")) or ""
        st = {k: v for k, v in o.items() if k not in NATIVE_KEYS}
        extra: dict[str, Any] = {}
        name = clean_name(o.get("name"))
        hidden = is_hidden(o)
        role: Role
        if is_user(o):
            role, speaker = "user", cast.user_map.get(name_key(name or header_user), name or header_user)
        elif line_kind(o) == "narrator":
            role, speaker = "system", name or SYSTEM_NAME
        else:
            entry = cast.by_name.get(name_key(name or header_char))
            if entry is None and not hidden and len(cast.characters) == 1:
                entry = cast.characters[0]
            if entry is not None:
                role, speaker = "assistant", entry.card.display_name
            else:
                role, speaker = "system", name or SYSTEM_NAME
        if hidden:
            extra["hidden"] = True
        # reasoning: kept apart from the text, never in a prompt
        st_extra = o.get("extra")
        if isinstance(st_extra, dict) and isinstance(st_extra.get("reasoning"), str) and st_extra["reasoning"]:
            extra["reasoning"] = st_extra["reasoning"]
            st["extra"] = {k: v for k, v in st_extra.items() if k != "reasoning"}
        # swipes
        swipes = swipe_list(o.get("swipes"))
        index: int | None = None
        if swipes is not None:
            sid = o.get("swipe_id")
            if isinstance(sid, int) and not isinstance(sid, bool) and 0 <= sid < len(swipes):
                index = sid
            elif text in swipes:
                index = swipes.index(text)
            else:
                index = len(swipes) - 1
            swipes[index] = text
        else:
            for key in ("swipes", "swipe_id"):  # unreadable as swipes: kept as they were
                if key in o:
                    st[key] = o[key]
        stamp = parse_st_time(o.get("send_date"))
        created = iso(stamp) if stamp is not None else last_iso
        last_iso = created
        msg = Message(f"{base + i:013x}{secrets.token_hex(3)}", speaker, role, text, created)
        msg.extra.update(extra)
        if swipes is not None and index is not None:
            msg.extra["swipes"] = swipes
            msg.extra["swipe"] = index
            msg.extra["swipe_meta"] = [{"status": "ok"} for _ in swipes]
            msg.extra["st_swipes"] = len(swipes)  # how many came with it (swipe_info is padded past them)
        msg.extra["st"] = st
        out.append(msg)
    return out


def import_st_chat(
    ws: Workspace,
    path: Path,
    *,
    characters: Sequence[str] | None = None,
    persona: str | None = None,
    title: str | None = None,
) -> ImportResult:
    """Import one SillyTavern chat file as a new chat of ``ws``'s profile.

    ``characters``: the slugs of the characters in it (default: the names in
    the file, matched by card display name); ``persona``: who the user lines
    belong to (default: the user's name in the file, a persona of that name
    is added for a group scene when there is none). Nothing is written
    unless the whole file reads; the chat appears complete or not at all.
    """
    chat = read_st_file(Path(path))
    return import_st(ws, chat, characters=characters, persona=persona, title=title)


def import_st(
    ws: Workspace,
    chat: StChat,
    *,
    characters: Sequence[str] | None = None,
    persona: str | None = None,
    title: str | None = None,
) -> ImportResult:
    cast = find_cast(ws, chat, characters, persona)
    msgs = st_to_messages(chat, cast)
    warnings = list(cast.warnings)
    if chat.torn_line is not None:
        warnings.append(
            f"{location(chat.path, chat.torn_line)}: the last line is incomplete (an interrupted save?) "
            "and was left out"
        )
    header = chat.header
    created = parse_st_time(header.get("create_date")) if header else None
    first = parse_iso(msgs[0].created)
    table: dict[str, Any] = {
        "format": "sillytavern",
        "file": chat.path.name,
        "imported": iso(datetime.now(UTC)),
        "messages": len(msgs),
    }
    if header is not None:
        table["header"] = json.dumps(header, ensure_ascii=True, separators=(",", ":"))
    for p in cast.to_create:
        add_persona(ws.store, p, ws.config.chat.user_name)
    times = [t for t in (parse_iso(m.created) for m in msgs) if t is not None]
    info = ws.store.import_chat(
        [e.slug for e in cast.characters],
        cast.personas,
        title if title is not None else chat.path.stem,
        msgs,
        scene=scene_settings_to_toml(SceneSettings()) if cast.group else None,
        table=table,
        created=iso(start) if (start := created or first) else None,
        updated=iso(max(times)) if times else None,
    )
    return ImportResult(info, len(msgs), cast.group, warnings, [p.name for p in cast.to_create])
