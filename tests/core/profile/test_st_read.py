"""Reading SillyTavern chat files (tui.core.profile.st_read): old files, torn and broken lines, limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from st_helpers import FIXTURES, fixture_lines, st_lines, utc, w  # noqa: F401  (fixtures)

from tui.core.profile.chat_export import export_chat
from tui.core.profile.personas import list_personas
from tui.core.profile.st_import import import_st_chat
from tui.core.profile.st_read import ChatFileError, read_st_bytes

# -- old files, torn and broken lines ---------------------------------------------------


def test_old_headerless_file_with_humanized_dates(w):
    result = import_st_chat(w, FIXTURES / "old_headerless.jsonl")
    msgs, _ = w.store.messages(result.info.id)
    assert [m.text for m in msgs] == [
        "Old greeting.", "Old reply.", "Numbers too.", "Newer humanized.", "An unreadable date.",
    ]
    assert [m.created for m in msgs] == [
        "2023-07-05T23:02:10.123Z",   # 2023-7-5 @23h 02m 10s 123ms
        "2023-07-05T23:02:00.000Z",   # July 5, 2023 11:02pm
        "2023-07-05T23:03:00.000Z",   # 1688598180000
        "2024-07-12T01:31:37.000Z",   # 2024-7-12@01h31m37s
        "2024-07-12T01:31:37.000Z",   # unreadable: the time before it
    ]
    assert msgs[0].extra["st"]["is_name"] is True and msgs[0].extra["st"]["chid"] == 0
    assert [m.speaker for m in msgs if m.role == "user"] == ["You", "You"]
    # exported, it gets a header (SillyTavern takes the first line for one) and every message back
    out = st_lines(export_chat(w, result.info.id, "st")[0])
    assert out[0]["character_name"] == "Seraphina" and out[0]["chat_metadata"] == {}
    assert out[1:] == fixture_lines("old_headerless.jsonl")


def test_a_torn_last_line_is_left_out_with_a_warning(w):
    result = import_st_chat(w, FIXTURES / "torn_last.jsonl")
    assert result.messages == 3
    assert len(result.warnings) == 1 and "torn_last.jsonl:5:" in result.warnings[0]
    assert "incomplete" in result.warnings[0]
    msgs, _ = w.store.messages(result.info.id)
    assert msgs[-1].text == "You are safe here, in my glade."


def test_a_malformed_middle_line_names_file_and_line_and_writes_nothing(w):
    before = list_personas(w.store, w.config.chat.user_name)
    with pytest.raises(ChatFileError) as err:
        import_st_chat(w, FIXTURES / "malformed_middle.jsonl")
    text = str(err.value)
    assert "malformed_middle.jsonl:3: not valid JSON" in text and "\n" not in text
    assert w.store.list_chats() == []
    assert not w.store.chats_dir.exists() or list(w.store.chats_dir.iterdir()) == []
    assert list_personas(w.store, w.config.chat.user_name) == before


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b'[{"name": "a", "mes": "b"}]', "a JSON array"),
        (b'{"user_name": "A"}\n42\n{"name":"B","mes":"x"}', ":2: not a JSON object"),
        (
            b'{"user_name": "A"}\n{"name":"B","mes":7}\n{"name":"B","mes":"x"}',
            ":2: 'mes' (the message text) must be text",
        ),
        (
            b'{"user_name": "A"}\n{"name":"B","mes":"x","extra":[1]}\n{"name":"B","mes":"x"}',
            ":2: 'extra' must be an object",
        ),
        (b'{"user_name": "A"}\n{"name":"B","mes":NaN}\n{"name":"B","mes":"x"}', ":2: NaN is not JSON"),
        (b'{"user_name": "A"}\n{"name":"B","mes":"\xff"}\n{"name":"B","mes":"x"}', ":2: not UTF-8 text"),
        (b'{"user_name": "A", "character_name": "B"}', "no messages"),
        (b'{"user_name": "A"}\n' + b"[" * 100 + b"]" * 100 + b'\n{"mes":"x"}', ":2: nested deeper than 64"),
    ],
)
def test_bad_input_is_one_clear_line(data, needle):
    with pytest.raises(ChatFileError) as err:
        read_st_bytes(data, Path("chat.jsonl"))
    assert needle in str(err.value) and str(err.value).startswith("chat.jsonl")


def test_size_limits(monkeypatch, tmp_path):
    from tui.core.profile import st_read

    monkeypatch.setattr(st_read, "MAX_LINE_BYTES", 100)
    data = b'{"user_name":"A"}\n{"name":"B","mes":"' + b"x" * 200 + b'"}\n{"name":"B","mes":"ok"}'
    with pytest.raises(ChatFileError, match=r"chat.jsonl:2: line too long"):
        read_st_bytes(data, Path("chat.jsonl"))
    monkeypatch.setattr(st_read, "MAX_FILE_BYTES", 50)
    big = tmp_path / "big.jsonl"
    big.write_bytes(data)
    with pytest.raises(ChatFileError, match="file too large"):
        st_read.read_st_file(big)


def test_a_bom_and_blank_lines_are_fine():
    chat = read_st_bytes(b'\xef\xbb\xbf{"user_name":"A"}\n\n{"name":"B","mes":"x"}\n\n', Path("c.jsonl"))
    assert chat.header == {"user_name": "A"} and [ln.line for ln in chat.lines] == [3]
