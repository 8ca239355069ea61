"""Any chat exported as SillyTavern JSONL, Markdown, plain text or our own messages.jsonl lines."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from tui.core.errors import CandlelitError
from tui.core.profile.st_read import SYSTEM_NAME, ChatFileError
from tui.core.profile.st_time import parse_iso
from tui.core.profile.workspace import Workspace
from tui.core.scene.rules import is_ooc, strip_ooc
from tui.core.storage.model import ChatInfo, Message
from tui.core.storage.toml_files import read_toml

EXPORT_FORMATS = ("st", "md", "txt", "jsonl")
EXPORT_SUFFIX = {"st": ".jsonl", "md": ".md", "txt": ".txt", "jsonl": ".jsonl"}


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
    dt = parse_iso(stamp)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if dt else ""


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
