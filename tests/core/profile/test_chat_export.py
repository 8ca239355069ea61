"""Exports of any chat (tui.core.profile.chat_export): Markdown, text, our JSONL, SillyTavern."""

from __future__ import annotations

import json

import pytest
from st_helpers import FIXTURES, st_lines, utc, w  # noqa: F401  (fixtures)

from tui.core.profile.chat_export import export_chat
from tui.core.profile.st_import import import_st_chat
from tui.core.profile.st_read import ChatFileError
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

# -- exports of any chat -------------------------------------------------------------------


def _native_chat(w: Workspace) -> str:
    info = w.new_chat("mara", title="Rainy [b]evening[/b]")
    w.store.append(info.id, Message.new("User", "user", "Hello, Mara."))
    ooc = Message.new("User", "user", "((brb, tea))")
    ooc.extra["ooc"] = True
    w.store.append(info.id, ooc)
    reply = Message.new("Mara", "assistant", "First try.")
    reply.add_swipe("Second try, *warmer*.")
    w.store.append(info.id, reply)
    return info.id


def test_markdown_export_has_headings_times_and_marks(w):
    chat_id = import_st_chat(w, FIXTURES / "seraphina.jsonl").info.id
    md = export_chat(w, chat_id, "md")[0]
    assert md.startswith("# seraphina\n")
    assert "### Seraphina · 2024-07-12 01:32 UTC · swipe 1 of 2\n\nYou are safe here, in my glade.\n" in md
    assert "### Alex · 2024-07-12 01:34 UTC · hidden\n\nSECRET-HIDDEN-LINE" in md
    assert "### System · 2024-07-12 01:35 UTC\n\nThe wind rises over the glade." in md
    assert "THINKING" not in md
    native = export_chat(w, _native_chat(w), "md")[0]
    assert native.startswith("# Rainy [b]evening[/b]\n")
    assert "### User · " in native and "· out of character\n\n> brb, tea\n" in native
    assert "· swipe 2 of 2\n\nSecond try, *warmer*.\n" in native


def test_text_export_is_plain_lines(w):
    chat_id = _native_chat(w)
    txt = export_chat(w, chat_id, "txt")[0]
    msgs, _ = w.store.messages(chat_id)
    assert txt.startswith("Rainy [b]evening[/b]\n\n")
    stamp = lambda m: m.created[:16].replace("T", " ") + " UTC"  # noqa: E731
    assert f"[{stamp(msgs[0])}] Mara: {msgs[0].text}\n\n" in txt
    assert f"[{stamp(msgs[1])}] User: Hello, Mara.\n\n" in txt
    assert f"[{stamp(msgs[2])}] User (out of character): brb, tea\n\n" in txt
    assert txt.endswith(f"[{stamp(msgs[3])}] Mara (swipe 2 of 2): Second try, *warmer*.\n")


def test_jsonl_export_is_our_own_format(w):
    chat_id = _native_chat(w)
    text = export_chat(w, chat_id, "jsonl")[0]
    msgs, _ = w.store.messages(chat_id)
    back = [Message.from_json(json.loads(line)) for line in text.split("\n") if line]
    assert back == msgs
    assert text == (w.store.chat_dir(chat_id) / "messages.jsonl").read_text(encoding="utf-8")


def test_a_candlelit_chat_exports_to_st(w):
    chat_id = _native_chat(w)
    out = st_lines(export_chat(w, chat_id, "st")[0])
    info = w.store.chat(chat_id)
    assert out[0] == {"user_name": "User", "character_name": "Mara", "create_date": info.created, "chat_metadata": {}}
    greeting, hello, ooc, reply = out[1:]
    assert greeting["name"] == "Mara" and greeting["is_user"] is False and greeting["is_system"] is False
    assert hello == {"name": "User", "is_user": True, "is_system": False, "send_date": hello["send_date"],
                     "extra": {}, "mes": "Hello, Mara."}
    assert ooc["is_system"] is True  # out of the story here, hidden from the model there
    assert reply["swipes"] == ["First try.", "Second try, *warmer*."] and reply["swipe_id"] == 1
    assert reply["mes"] == "Second try, *warmer*." and len(reply["swipe_info"]) == 2
    msgs, _ = w.store.messages(chat_id)
    assert hello["send_date"] == msgs[1].created


def test_unknown_export_format(w):
    with pytest.raises(ChatFileError, match="unknown export format"):
        export_chat(w, _native_chat(w), "pdf")
