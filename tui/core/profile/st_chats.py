"""Chat files in and out: SillyTavern chats (.jsonl) imported as Candlelit
chats, and any chat exported as SillyTavern JSONL, Markdown, plain text or
our own messages.jsonl lines.

A SillyTavern chat file is JSON Lines. Its first line is usually a header
(``user_name``, ``character_name``, ``create_date``, ``chat_metadata``);
every other line is one message: ``name``, ``is_user``, ``is_system``
(hidden from the model), ``send_date``, ``mes``, the alternatives
``swipes`` with the chosen ``swipe_id`` and per-alternative ``swipe_info``,
``extra`` (``reasoning``, ``display_text``, ``bias``, ``token_count``,
``type`` = "narrator" for a narrator line...), ``gen_started``,
``gen_finished``, ``force_avatar``, ``original_avatar``. SillyTavern writes
no newline after the last line; group chats written before late 2025 have
no header at all.

How a message becomes a ``Message``:

- ``is_user`` lines are the people's (role "user", speaker = their persona),
  narrator lines (``extra.type == "narrator"``) and SillyTavern's own notes
  are role "system", the rest are the characters' (role "assistant",
  speaker = the card's display name);
- ``is_system`` (hidden) lines are kept with ``extra["hidden"] = True`` and
  stay out of the prompt, as in SillyTavern;
- ``mes`` is the text; ``swipes``/``swipe_id`` become Candlelit's swipes
  (``extra["swipes"]``, ``extra["swipe"]``);
- ``extra.reasoning`` goes to ``extra["reasoning"]``, which no prompt reads
  (prompts are built from ``Message.text`` only);
- ``send_date`` (ISO text, a number of milliseconds, or the older humanized
  forms "June 19, 2023 2:20pm", "2023-6-19 @14h 20m 05s 123ms",
  "2024-7-12@01h31m37s") becomes ``created`` in UTC; humanized forms were
  written in local time and are read as such;
- everything else of the line, the original ``send_date`` included, is kept
  as it was in ``extra["st"]``, and the header line goes (as JSON text) to
  chat.toml's ``[import]`` table, so exporting back to SillyTavern writes
  every field SillyTavern reads.

Reading is strict where guessing would lose data: a line that is not a JSON
object stops the import with ``ChatFileError`` naming the file and line,
and nothing is written. Only a final line that does not parse is taken for
a torn write (an interrupted save), left out and reported as a warning.
Limits: ``MAX_FILE_BYTES``, ``MAX_LINE_BYTES``, ``MAX_MESSAGES``.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import json
import math
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui.core.cards.card import Card
from tui.core.fsio import read_limited, size_text
from tui.core.profile.personas import PersonaError, PersonaProfile, add_persona, list_personas
from tui.core.safe_text import neutralize
from tui.core.scene.rules import SceneSettings, is_ooc, scene_settings_to_toml, strip_ooc
from tui.core.storage.errors import StoreError
from tui.core.storage.model import ChatInfo, Message
from tui.core.storage.toml_files import read_toml
from tui.core.profile.workspace import CardEntry, Workspace

MAX_FILE_BYTES = 256 * 1024 * 1024   # one chat file
MAX_LINE_BYTES = 16 * 1024 * 1024    # one message line
MAX_MESSAGES = 500_000
MAX_JSON_DEPTH = 64

EXPORT_FORMATS = ("st", "md", "txt", "jsonl")
EXPORT_SUFFIX = {"st": ".jsonl", "md": ".md", "txt": ".txt", "jsonl": ".jsonl"}

HEADER_KEYS = ("user_name", "character_name", "create_date", "chat_metadata")
NATIVE_KEYS = ("mes", "swipes", "swipe_id")  # held by the Message itself, not in extra["st"]
SYSTEM_NAME = "System"  # SillyTavern's name for its own notes


class ChatFileError(CandlelitError):
    """A chat file that cannot be imported or written; ``str()`` is one line."""


@dataclass
class StLine:
    """One message line as read: its 1-based line number and object."""

    line: int
    obj: dict[str, Any]


@dataclass
class StChat:
    """A SillyTavern chat file as read."""

    path: Path
    header: dict[str, Any] | None
    lines: list[StLine]
    torn_line: int | None = None  # a final line that did not parse (left out)
    mtime: float | None = None


@dataclass
class ImportResult:
    info: ChatInfo
    messages: int
    group: bool
    warnings: list[str] = field(default_factory=list)
    created_personas: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# reading


def _where(path: Path, line: int | None = None) -> str:
    name = neutralize(str(path))
    return f"{name}:{line}" if line is not None else name


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_ok(obj: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return True


def _parse_line(raw: bytes) -> Any:
    """One JSON value or ``ValueError`` with a short reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(value, (dict, list)) and not _depth_ok(value):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _is_header(obj: dict[str, Any]) -> bool:
    return "mes" not in obj and any(k in obj for k in HEADER_KEYS)


def read_st_bytes(raw: bytes, path: Path) -> StChat:
    """Parse the bytes of a SillyTavern chat file (``path`` names it in errors)."""
    if len(raw) > MAX_FILE_BYTES:
        raise ChatFileError(f"{_where(path)}: file too large ({size_text(len(raw))}; the limit is {size_text(MAX_FILE_BYTES)})")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise ChatFileError(f"{_where(path)}: the file is empty")
    if raw.lstrip()[:1] == b"[":
        raise ChatFileError(
            f"{_where(path)}: a JSON array, not a SillyTavern chat (.jsonl: one JSON object per line)"
        )
    physical = raw.split(b"\n")
    numbered = [(i + 1, ln) for i, ln in enumerate(physical) if ln.strip()]
    header: dict[str, Any] | None = None
    lines: list[StLine] = []
    torn: int | None = None
    last = numbered[-1][0]
    for lineno, data in numbered:
        if len(data) > MAX_LINE_BYTES:
            raise ChatFileError(
                f"{_where(path, lineno)}: line too long ({size_text(len(data))}; the limit is {size_text(MAX_LINE_BYTES)})"
            )
        try:
            obj = _parse_line(data)
        except ValueError as exc:
            if lineno == last and len(numbered) > 1:
                torn = lineno  # an interrupted save: everything before it is whole
                continue
            raise ChatFileError(f"{_where(path, lineno)}: {exc}") from None
        if not isinstance(obj, dict):
            raise ChatFileError(
                f"{_where(path, lineno)}: not a JSON object (a SillyTavern chat has one object per line)"
            )
        if header is None and not lines and _is_header(obj):
            header = obj
            continue
        _check_message(obj, path, lineno)
        lines.append(StLine(lineno, obj))
        if len(lines) > MAX_MESSAGES:
            raise ChatFileError(f"{_where(path)}: more than {MAX_MESSAGES:,} messages")
    if not lines:
        raise ChatFileError(f"{_where(path)}: no messages in this chat file")
    return StChat(path, header, lines, torn)


def read_st_file(path: Path) -> StChat:
    """Read a SillyTavern chat file; ``ChatFileError`` for anything wrong."""
    path = Path(path)
    try:
        raw, mtime = read_limited(path, MAX_FILE_BYTES, "chat file")
    except ValueError as exc:
        raise ChatFileError(f"{_where(path)}: {exc}") from None
    chat = read_st_bytes(raw, path)
    chat.mtime = mtime
    return chat


def _check_message(obj: dict[str, Any], path: Path, lineno: int) -> None:
    """The fields a message needs to be read without guessing."""

    def bad(what: str) -> ChatFileError:
        return ChatFileError(f"{_where(path, lineno)}: {what}")

    if _message_text(obj.get("mes")) is None:
        raise bad("'mes' (the message text) must be text")
    name = obj.get("name")
    if name is not None and not isinstance(name, str):
        raise bad("'name' must be text")
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise bad("'extra' must be an object")


def _message_text(value: Any) -> str | None:
    """``mes`` as text: a string, nothing (""), or Chub's ``{"message": ...}``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return None


def _swipe_list(value: Any) -> list[str] | None:
    """``swipes`` as a list of texts (Chub's objects flattened, as SillyTavern
    does on import), or None when it is missing or not readable as one."""
    if not isinstance(value, list) or not value:
        return None
    out = []
    for item in value:
        text = item if isinstance(item, str) else _message_text(item) if isinstance(item, dict) else None
        if text is None:
            return None
        out.append(text)
    return out


# --------------------------------------------------------------------------
# times


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_MERIDIEM = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{1,2})\s*([ap]m)", re.IGNORECASE)
_HUMANIZED = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?"
)


def parse_st_time(value: Any) -> datetime | None:
    """A SillyTavern timestamp as an aware datetime, or None if unreadable.

    Numbers (and digit strings) are milliseconds since 1970, as SillyTavern
    reads them; ISO text keeps its zone (local time when it has none); the
    humanized forms are local time, which is how SillyTavern wrote them."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            return None
        try:
            return datetime.fromtimestamp(value / 1000, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = None
    if dt is not None:
        return dt if dt.tzinfo else dt.astimezone()
    try:
        m = _MERIDIEM.search(text)
        if m:
            month = _MONTHS.get(m.group(1)[:3].lower())
            if month is None:
                return None
            hour = int(m.group(4)) % 12 + (12 if m.group(6).lower() == "pm" else 0)
            return datetime(int(m.group(3)), month, int(m.group(2)), hour, int(m.group(5))).astimezone()
        m = _HUMANIZED.search(text)
        if m:
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            ms = int(m.group(7).ljust(3, "0")) if m.group(7) else 0
            return datetime(y, mo, d, h, mi, s, ms * 1000).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(stamp: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------
# who is who


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _clean_name(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _is_user(obj: dict[str, Any]) -> bool:
    return bool(obj.get("is_user"))


def _is_hidden(obj: dict[str, Any]) -> bool:
    return bool(obj.get("is_system"))


def _kind(obj: dict[str, Any]) -> str:
    extra = obj.get("extra")
    return extra.get("type", "") if isinstance(extra, dict) and isinstance(extra.get("type"), str) else ""


def _card_keys(entry: CardEntry) -> set[str]:
    card: Card = entry.card
    return {name_key(k) for k in (card.display_name, card.name, entry.slug) if k}


def _avatar_key(obj: dict[str, Any]) -> str:
    avatar = obj.get("original_avatar")
    if isinstance(avatar, str) and avatar.strip():
        return name_key(Path(avatar.strip()).stem)
    return ""


@dataclass
class _Cast:
    characters: list[CardEntry]          # in chat order
    by_name: dict[str, CardEntry]        # name_key(ST name) -> card
    personas: list[str]                  # persona names, in chat order
    user_map: dict[str, str]             # name_key(ST user name) -> persona name
    to_create: list[PersonaProfile]
    group: bool
    warnings: list[str]


def _cast(
    ws: Workspace, chat: StChat, slugs: Sequence[str] | None, persona: str | None,
) -> _Cast:
    where = _where(chat.path)
    header = chat.header or {}
    warnings: list[str] = []
    header_char = _clean_name(header.get("character_name"))
    header_user = _clean_name(header.get("user_name"))

    # the characters who speak (visible, not narrator lines), in order of appearance
    ai_names: dict[str, str] = {}
    avatars: dict[str, str] = {}
    for ln in chat.lines:
        o = ln.obj
        if _is_user(o) or _is_hidden(o) or _kind(o) == "narrator":
            continue
        name = _clean_name(o.get("name")) or header_char
        ai_names.setdefault(name_key(name), name)
        if _avatar_key(o):
            avatars.setdefault(name_key(name), _avatar_key(o))
    if not ai_names and header_char:
        ai_names[name_key(header_char)] = header_char

    def find(key: str, pool: Iterable[CardEntry]) -> list[CardEntry]:
        pool = list(pool)
        hits = [e for e in pool if key and key in _card_keys(e)]
        if not hits and avatars.get(key):
            hits = [e for e in pool if avatars[key] in _card_keys(e)]
        return hits

    by_name: dict[str, CardEntry] = {}
    if slugs:
        given: list[CardEntry] = []
        for slug in slugs:
            entry = ws.card(slug)
            if all(e.slug != entry.slug for e in given):
                given.append(entry)
        if len(given) == 1 and len(ai_names) <= 1:
            by_name = {key: given[0] for key in ai_names}
        else:
            for key, name in ai_names.items():
                hits = find(key, given)
                if len(hits) != 1:
                    listed = ", ".join(e.slug for e in given)
                    raise ChatFileError(
                        f"{where}: {name or '(no name)'!r} speaks in this chat but is not one of the "
                        f"characters given ({listed}); add --character SLUG for them"
                    )
                by_name[key] = hits[0]
        characters = given
    else:
        if not ai_names:
            raise ChatFileError(f"{where}: no character speaks in this chat; name one with --character SLUG")
        cards = ws.cards()
        for key, name in ai_names.items():
            hits = find(key, cards)
            if not hits:
                raise ChatFileError(
                    f"{where}: no character called {name or '(no name)'!r} in this profile; import their card "
                    f"first (candlelit card import), or choose one with --character SLUG"
                )
            if len(hits) > 1:
                raise ChatFileError(
                    f"{where}: several characters are called {name!r} ({', '.join(e.slug for e in hits)}); "
                    "choose with --character SLUG"
                )
            by_name[key] = hits[0]
        characters = list({e.slug: e for e in by_name.values()}.values())

    # the people
    user_names: dict[str, str] = {}
    for ln in chat.lines:
        if _is_user(ln.obj):
            name = _clean_name(ln.obj.get("name")) or header_user
            user_names.setdefault(name_key(name), name)
    if not user_names:
        user_names[name_key(header_user)] = header_user
    default_name = ws.config.chat.user_name
    known = list_personas(ws.store, default_name)
    default_persona = ws.persona().name
    user_map: dict[str, str] = {}
    to_create: list[PersonaProfile] = []
    if persona is not None:
        key = name_key(persona)
        match = next((p for p in known if name_key(p.name) == key), None)
        if match is None:
            raise PersonaError(
                f"no persona named {persona!r} (personas: {', '.join(p.name for p in known)}; "
                "add one with `candlelit persona add NAME`)"
            )
        user_map = {key: match.name for key in user_names}
    else:
        several_people = len(user_names) > 1
        group_likely = len(characters) > 1 or several_people
        for key, name in user_names.items():
            match = next((p for p in known if name_key(p.name) == key), None)
            if match is not None:
                user_map[key] = match.name
                continue
            if not name:
                user_map[key] = default_persona
                continue
            try:
                profile = PersonaProfile(name)
            except PersonaError as exc:
                warnings.append(f"{where}: {exc}; their lines are written as {default_persona!r}")
                user_map[key] = default_persona
                continue
            if group_likely and all(name_key(p.name) != name_key(profile.name) for p in to_create):
                to_create.append(profile)
            user_map[key] = profile.name
    personas = list(dict.fromkeys(user_map.values()))
    group = len(characters) > 1 or len(personas) > 1
    if group:
        seen: dict[str, str] = {}
        for name in [*personas, *(e.card.display_name for e in characters)]:
            key = name_key(name)
            if key in seen:
                raise ChatFileError(
                    f"{where}: a person and a character are both called {name!r}; every participant of a "
                    "group scene needs a different name (import with --persona NAME)"
                )
            seen[key] = name
    return _Cast(characters, by_name, personas, user_map, to_create, group, warnings)


# --------------------------------------------------------------------------
# SillyTavern -> Candlelit


def st_to_messages(chat: StChat, cast: _Cast, *, now_ms: int | None = None) -> list[Message]:
    """The chat's lines as Candlelit messages (see the module docstring)."""
    header = chat.header or {}
    header_char = _clean_name(header.get("character_name"))
    header_user = _clean_name(header.get("user_name"))
    fallback = (
        parse_st_time(header.get("create_date"))
        or (datetime.fromtimestamp(chat.mtime, timezone.utc) if chat.mtime else None)
        or datetime.now(timezone.utc)
    )
    fallback_iso = _iso(fallback)
    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    base = now_ms - len(chat.lines) - 1  # ids sort in chat order, before any new message
    out: list[Message] = []
    last_iso = fallback_iso
    for i, ln in enumerate(chat.lines):
        o = ln.obj
        text = _message_text(o.get("mes")) or ""
        st = {k: v for k, v in o.items() if k not in NATIVE_KEYS}
        extra: dict[str, Any] = {}
        name = _clean_name(o.get("name"))
        hidden = _is_hidden(o)
        if _is_user(o):
            role, speaker = "user", cast.user_map.get(name_key(name or header_user), name or header_user)
        elif _kind(o) == "narrator":
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
        swipes = _swipe_list(o.get("swipes"))
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
        created = _iso(stamp) if stamp is not None else last_iso
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
    cast = _cast(ws, chat, characters, persona)
    msgs = st_to_messages(chat, cast)
    warnings = list(cast.warnings)
    if chat.torn_line is not None:
        warnings.append(
            f"{_where(chat.path, chat.torn_line)}: the last line is incomplete (an interrupted save?) "
            "and was left out"
        )
    header = chat.header
    created = parse_st_time(header.get("create_date")) if header else None
    first = _parse_iso(msgs[0].created)
    table: dict[str, Any] = {
        "format": "sillytavern",
        "file": chat.path.name,
        "imported": _iso(datetime.now(timezone.utc)),
        "messages": len(msgs),
    }
    if header is not None:
        table["header"] = json.dumps(header, ensure_ascii=True, separators=(",", ":"))
    for p in cast.to_create:
        add_persona(ws.store, p, ws.config.chat.user_name)
    times = [t for t in (_parse_iso(m.created) for m in msgs) if t is not None]
    info = ws.store.import_chat(
        [e.slug for e in cast.characters],
        cast.personas,
        title if title is not None else chat.path.stem,
        msgs,
        scene=scene_settings_to_toml(SceneSettings()) if cast.group else None,
        table=table,
        created=_iso(created or first) if (created or first) else None,
        updated=_iso(max(times)) if times else None,
    )
    return ImportResult(info, len(msgs), cast.group, warnings, [p.name for p in cast.to_create])


# --------------------------------------------------------------------------
# Candlelit -> files


def _json_line(obj: Any) -> str:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return line


def _hidden(m: Message) -> bool:
    return m.extra.get("hidden") is True


def _ooc(m: Message) -> bool:
    return m.role == "user" and (m.extra.get("ooc") is True or is_ooc(m.text))


def _import_table(info: ChatInfo) -> dict[str, Any]:
    """chat.toml's ``[import]`` table (empty for a chat made here)."""
    data = read_toml(info.path / "chat.toml", f"chat '{info.id}': chat.toml")
    table = data.get("import")
    return table if isinstance(table, dict) else {}


def message_to_st(m: Message) -> dict[str, Any]:
    """One message as a SillyTavern line: an imported one as it came (with
    its current text, swipes and reasoning), a Candlelit one built fresh."""
    st = m.extra.get("st")
    if isinstance(st, dict):
        out = dict(st)
    else:
        system = m.role == "system"
        out = {
            "name": m.speaker or (SYSTEM_NAME if system else ""),
            "is_user": m.role == "user",
            # out of the story in Candlelit (notes, signals, OOC lines): hidden in SillyTavern too
            "is_system": system or _hidden(m) or _ooc(m),
            "send_date": m.created,
            "extra": {},
        }
    out["mes"] = m.text
    swipes = m.swipes()
    if "swipes" in m.extra or len(swipes) > 1:
        out["swipes"] = swipes
        out["swipe_id"] = m.swipe_index()
        info = out.get("swipe_info")
        came = m.extra.get("st_swipes")
        came = came if isinstance(came, int) and not isinstance(came, bool) else 0
        if not isinstance(st, dict) or (isinstance(info, list) and len(swipes) > came):
            # new alternatives written in Candlelit get their swipe_info entry;
            # what came from SillyTavern is written back as it was
            info = list(info) if isinstance(info, list) else []
            while len(info) < len(swipes):
                info.append({"send_date": m.created, "extra": {}})
            out["swipe_info"] = info
    reasoning = m.extra.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        extra = out.get("extra")
        out["extra"] = {**(extra if isinstance(extra, dict) else {}), "reasoning": reasoning}
    return out


def _names(ws: Workspace, info: ChatInfo) -> list[str]:
    names = []
    for slug in info.characters:
        try:
            names.append(ws.card(slug).card.display_name)
        except CandlelitError:
            names.append(slug)
    return names


def export_st(ws: Workspace, info: ChatInfo, msgs: Sequence[Message]) -> str:
    """SillyTavern JSONL: the header line (the imported one, or a new one),
    then one line per message, no newline after the last (as SillyTavern
    writes it)."""
    table = _import_table(info)
    imported = table.get("format") == "sillytavern"
    header: dict[str, Any] | None = None
    raw = table.get("header")
    if isinstance(raw, str):
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        header = loaded if isinstance(loaded, dict) else None
    headerless_group = imported and "header" not in table and len(info.characters) > 1
    if header is None and not headerless_group:
        # (a one-to-one chat always gets one: SillyTavern takes its first line for the header)
        header = {
            "user_name": info.personas[0] if info.personas else ws.persona().name,
            "character_name": (_names(ws, info) or [""])[0],
            "create_date": info.created,
            "chat_metadata": {},
        }
    lines = ([_json_line(header)] if header is not None else []) + [_json_line(message_to_st(m)) for m in msgs]
    return "\n".join(lines)


def _when(stamp: str) -> str:
    dt = _parse_iso(stamp)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if dt else ""


def _labels(m: Message) -> list[str]:
    labels = []
    if _ooc(m):
        labels.append("out of character")
    if _hidden(m):
        labels.append("hidden")
    if m.status == "stopped":
        labels.append("stopped")
    n = len(m.swipes())
    if n > 1:
        labels.append(f"swipe {m.swipe_index() + 1} of {n}")
    return labels


def _body(m: Message) -> str:
    return strip_ooc(m.text) if _ooc(m) else m.text


def export_md(ws: Workspace, info: ChatInfo, msgs: Sequence[Message]) -> str:
    """Readable Markdown: a heading per message (speaker, time, marks)."""
    who = ", ".join([*_names(ws, info), *info.personas])
    out = [f"# {_one_line(info.title) or info.id}", "", f"*{who} · {len(msgs)} messages · {_when(info.created)}*", ""]
    for m in msgs:
        speaker = _one_line(m.speaker) or (SYSTEM_NAME if m.role == "system" else "?")
        head = " · ".join(x for x in [speaker, _when(m.created), *_labels(m)] if x)
        out += [f"### {head}", ""]
        body = _body(m).strip("\n")
        out += [f"> {line}" if line else ">" for line in body.split("\n")] if _ooc(m) else [body]
        out.append("")
    return "\n".join(out)


def export_txt(ws: Workspace, info: ChatInfo, msgs: Sequence[Message]) -> str:
    """Plain text: ``[time] Speaker: text`` blocks with blank lines between."""
    out = [_one_line(info.title) or info.id, ""]
    for m in msgs:
        labels = _labels(m)
        speaker = _one_line(m.speaker) or SYSTEM_NAME
        mark = f" ({', '.join(labels)})" if labels else ""
        when = _when(m.created)
        out.append(f"{'[' + when + '] ' if when else ''}{speaker}{mark}: {_body(m)}")
        out.append("")
    return "\n".join(out)


def export_jsonl(ws: Workspace, info: ChatInfo, msgs: Sequence[Message]) -> str:
    """Our own messages.jsonl lines (every field of every message)."""
    return "".join(_json_line(m.to_json()) + "\n" for m in msgs)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_EXPORTERS = {"st": export_st, "md": export_md, "txt": export_txt, "jsonl": export_jsonl}


def export_chat(ws: Workspace, chat_id: str, fmt: str) -> tuple[str, list[Path]]:
    """The chat as text in ``fmt`` (``EXPORT_FORMATS``), and the side files
    of torn lines reading it had to set aside."""
    if fmt not in _EXPORTERS:
        raise ChatFileError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    info = ws.store.chat(chat_id)
    msgs, report = ws.store.messages(info.id)
    return _EXPORTERS[fmt](ws, info, msgs), list(report.torn)


def export_name(info: ChatInfo, fmt: str) -> str:
    """A file name for an export of this chat (letters, digits, - and _)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", info.title).strip("-")[:60] or info.id
    return f"{stem}{'-st' if fmt == 'st' else ''}{EXPORT_SUFFIX[fmt]}"
