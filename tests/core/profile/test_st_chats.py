"""SillyTavern chat files in and out (tui.core.profile.st_chats), on fixtures written
in SillyTavern's format (tests/fixtures/st/), through the real Store,
Workspace and Session: what comes in, what the prompt sees, and that
ST -> Candlelit -> ST gives back every line SillyTavern reads."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ScriptedEngine
from tui.core import paths
from tui.core.config.settings import Config
from tui.core.cards.library import import_card_file
from tui.core.engine.api import ModelInfo
from tui.core.profile.personas import PersonaProfile, add_persona, list_personas
from tui.core.chat.session import Session
from tui.core.profile.st_chats import (
    ChatFileError,
    export_chat,
    import_st_chat,
    parse_st_time,
    read_st_bytes,
)
from tui.core.storage.model import Message
from tui.core.storage.toml_files import read_toml
from tui.core.profile.workspace import Workspace

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "st"


@pytest.fixture
def utc(monkeypatch):
    """Humanized SillyTavern dates are local time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def w(home, tmp_path, utc) -> Workspace:
    ws = Workspace(paths.resolve(), Config())
    ws.install_starters()
    card = tmp_path / "seraphina.json"
    card.write_text(json.dumps({
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {"name": "Seraphina", "description": "Seraphina is an adult forest guardian.",
                 "personality": "kind, protective", "first_mes": "Welcome, traveller."},
    }), encoding="utf-8")
    assert import_card_file(ws.store, card).slug == "seraphina"
    return ws


def st_lines(text: str) -> list[dict]:
    """What SillyTavern reads: each non-empty line parsed (it splits on "\\n")."""
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def fixture_lines(name: str) -> list[dict]:
    return st_lines((FIXTURES / name).read_text(encoding="utf-8"))


def big_engine() -> ScriptedEngine:
    eng = ScriptedEngine()
    eng._info = ModelInfo(Path("/nonexistent/scripted.gguf"), "Scripted", 32768, 32768, None, "<bos>", "<eos>", False)
    return eng


# -- one-to-one --------------------------------------------------------------------


def test_one_to_one_chat_keeps_swipes_reasoning_hidden_lines_and_times(w):
    result = import_st_chat(w, FIXTURES / "seraphina.jsonl")
    assert not result.group and result.messages == 8 and result.warnings == []
    info = w.store.chat(result.info.id)
    assert info.characters == ["seraphina"] and info.personas == ["Alex"]
    assert info.title == "seraphina"
    assert info.created == "2024-07-12T01:31:37.000Z"   # the header's create_date
    assert info.updated == "2024-07-12T01:37:30.000Z"   # the last message
    msgs, _ = w.store.messages(info.id)
    assert [(m.role, m.speaker) for m in msgs] == [
        ("assistant", "Seraphina"), ("user", "Alex"), ("assistant", "Seraphina"), ("user", "Alex"),
        ("system", "System"), ("system", "Note"), ("user", "Alex"), ("assistant", "Seraphina"),
    ]
    greeting, _, reply, hidden, narrator, comment, thanks, last = msgs
    # the chosen swipe is the text; every alternative is kept
    assert greeting.text == "*The lanterns glow as you wake.* Second greeting."
    assert greeting.swipes() == ["First greeting, among the ferns.", greeting.text, "Third greeting: rain."]
    assert greeting.swipe_index() == 1
    greeting.select_swipe(2)
    assert greeting.text == "Third greeting: rain."
    # reasoning apart from the text; the other extras stay as SillyTavern wrote them
    assert reply.extra["reasoning"] == "THINKING-ONE: reassure them first."
    assert "THINKING" not in reply.text
    assert reply.extra["st"]["extra"] == {
        "api": "koboldcpp", "model": "mistral-nemo", "reasoning_duration": 1523, "token_count": 31,
        "bias": " *smiles*", "display_text": "Safe, in my glade.",
    }
    assert reply.extra["st"]["swipe_info"][1]["extra"]["reasoning"] == "THINKING-TWO: a gentler line."
    assert reply.extra["st"]["gen_started"] == "2024-07-12T01:32:08.101Z"
    assert reply.extra["st"]["original_avatar"] == "Seraphina.png"
    # hidden lines are kept and marked; a narrator line is a system line
    assert hidden.extra["hidden"] is True and hidden.text.startswith("SECRET-HIDDEN-LINE")
    assert comment.extra["hidden"] is True and comment.extra["st"]["extra"] == {"type": "comment"}
    assert "hidden" not in narrator.extra and narrator.text == "The wind rises over the glade."
    # times: ISO, the meridiem form (local time) and milliseconds since 1970, all in UTC
    assert msgs[1].created == "2024-07-12T01:32:05.000Z"
    assert greeting.created == "2024-07-12T01:31:00.000Z"
    assert thanks.created == "2024-07-12T01:37:00.000Z"
    assert greeting.extra["st"]["send_date"] == "July 12, 2024 1:31am"  # the original, for export
    # an empty reasoning stays where it was; the text keeps its line separator
    assert "reasoning" not in last.extra and last.extra["st"]["extra"]["reasoning"] == ""
    assert "\u2028" in last.text
    # ids are unique and in chat order
    assert len({m.id for m in msgs}) == 8 and [m.id for m in msgs] == sorted(m.id for m in msgs)
    # the header is kept whole in chat.toml
    table = read_toml(info.path / "chat.toml", "chat.toml")["import"]
    assert table["format"] == "sillytavern" and table["file"] == "seraphina.jsonl"
    assert json.loads(table["header"]) == fixture_lines("seraphina.jsonl")[0]


def test_reasoning_hidden_lines_and_comments_never_reach_the_prompt(w):
    chat_id = import_st_chat(w, FIXTURES / "seraphina.jsonl").info.id
    prompt = Session(w, chat_id, big_engine()).build_prompt().text
    assert "You are safe here, in my glade." in prompt
    assert "Thank you, Seraphina." in prompt
    assert "The wind rises over the glade." in prompt  # a narrator line is part of the story
    for secret in ("THINKING-ONE", "THINKING-TWO", "SECRET-HIDDEN-LINE", "COMMENT-LINE", "First greeting"):
        assert secret not in prompt, secret


@pytest.mark.parametrize("name", ["seraphina.jsonl", "group_shop.jsonl"])
def test_st_to_candlelit_to_st_gives_back_every_line(w, name):
    chat_id = import_st_chat(w, FIXTURES / name).info.id
    text, torn = export_chat(w, chat_id, "st")
    assert torn == []
    assert not text.endswith("\n")  # as SillyTavern writes it
    assert st_lines(text) == fixture_lines(name)


def test_candlelit_edits_and_new_swipes_go_back_to_st(w):
    chat_id = import_st_chat(w, FIXTURES / "seraphina.jsonl").info.id
    msgs, _ = w.store.messages(chat_id)
    reply, thanks = msgs[2], msgs[6]
    w.store.update_message(chat_id, reply.id, lambda m: m.add_swipe("A third way to say it.", metrics={"ttft_s": 0.1}))
    w.store.edit_message(chat_id, thanks.id, "Thank you, truly.")
    out = st_lines(export_chat(w, chat_id, "st")[0])
    orig = fixture_lines("seraphina.jsonl")
    st_reply = out[3]
    assert st_reply["mes"] == "A third way to say it." and st_reply["swipe_id"] == 2
    assert st_reply["swipes"] == [*orig[3]["swipes"], "A third way to say it."]
    assert st_reply["swipe_info"][:2] == orig[3]["swipe_info"] and len(st_reply["swipe_info"]) == 3
    assert st_reply["extra"]["reasoning"] == "THINKING-ONE: reassure them first."
    assert out[7]["mes"] == "Thank you, truly." and out[7]["send_date"] == 1720748220000
    unchanged = [i for i in range(len(orig)) if i not in (3, 7)]
    assert [out[i] for i in unchanged] == [orig[i] for i in unchanged]


def test_an_exported_chat_imports_again_with_the_same_story(w, tmp_path):
    first = import_st_chat(w, FIXTURES / "seraphina.jsonl").info.id
    again_file = tmp_path / "again.jsonl"
    again_file.write_text(export_chat(w, first, "st")[0], encoding="utf-8")
    second = import_st_chat(w, again_file).info.id
    a, _ = w.store.messages(first)
    b, _ = w.store.messages(second)
    keep = lambda m: (m.role, m.speaker, m.text, m.created, m.swipes(), m.extra.get("reasoning"), m.extra.get("hidden"))  # noqa: E731
    assert [keep(m) for m in a] == [keep(m) for m in b]


# -- group chats ---------------------------------------------------------------------


def test_group_chat_becomes_a_group_scene_with_personas(w):
    result = import_st_chat(w, FIXTURES / "group_shop.jsonl")
    assert result.group and result.messages == 5
    assert result.created_personas == ["Alex", "Sam"]
    info = w.store.chat(result.info.id)
    assert info.characters == ["mara", "vesper"]   # matched by card display name
    assert info.personas == ["Alex", "Sam"]
    assert info.scene.get("policy") == "natural"
    assert [p.name for p in list_personas(w.store, w.config.chat.user_name)][-2:] == ["Alex", "Sam"]
    msgs, _ = w.store.messages(info.id)
    assert [(m.role, m.speaker) for m in msgs] == [
        ("assistant", "Mara"), ("user", "Alex"), ("assistant", "Vesper"), ("user", "Sam"), ("assistant", "Mara"),
    ]
    assert msgs[0].extra["st"]["is_group"] is True
    assert msgs[4].swipes() == ["Coffee?", "Tea for everyone?"] and msgs[4].swipe_index() == 1
    session = Session(w, info.id, big_engine())
    assert session.is_group and session.persona_names == ["Alex", "Sam"]
    prompt = session.build_prompt().text
    assert "Alex: Hi both!" in prompt and "Vesper: Evening. Mind the paint." in prompt
    # SillyTavern wrote this group chat without a header: the export has none either
    text = export_chat(w, info.id, "st")[0]
    assert "user_name" not in text.split("\n")[0]


def test_group_characters_and_persona_can_be_named(w):
    add_persona(w.store, PersonaProfile("Robin"), w.config.chat.user_name)
    result = import_st_chat(w, FIXTURES / "group_shop.jsonl", characters=["vesper", "mara"], persona="Robin")
    info = w.store.chat(result.info.id)
    assert info.characters == ["vesper", "mara"] and info.personas == ["Robin"]
    assert result.created_personas == []
    msgs, _ = w.store.messages(info.id)
    assert [m.speaker for m in msgs if m.role == "user"] == ["Robin", "Robin"]
    assert [m.extra["st"]["name"] for m in msgs if m.role == "user"] == ["Alex", "Sam"]  # for the way back


def test_a_character_missing_from_the_given_ones_is_refused(w):
    with pytest.raises(ChatFileError) as err:
        import_st_chat(w, FIXTURES / "group_shop.jsonl", characters=["mara"])
    assert "'Vesper' speaks in this chat" in str(err.value) and "--character" in str(err.value)
    assert w.store.list_chats() == []


def test_one_given_character_takes_a_one_to_one_chat_whatever_its_name(w):
    result = import_st_chat(w, FIXTURES / "seraphina.jsonl", characters=["mara"])
    msgs, _ = w.store.messages(result.info.id)
    assert {m.speaker for m in msgs if m.role == "assistant"} == {"Mara"}
    assert msgs[0].extra["st"]["name"] == "Seraphina"


def test_an_unknown_character_is_refused_and_nothing_is_written(w, tmp_path):
    f = tmp_path / "stranger.jsonl"
    f.write_text(json.dumps({"user_name": "Alex", "character_name": "Nobody"}) + "\n"
                 + json.dumps({"name": "Nobody", "is_user": False, "mes": "Hi."}), encoding="utf-8")
    with pytest.raises(ChatFileError) as err:
        import_st_chat(w, f)
    assert "no character called 'Nobody'" in str(err.value) and "candlelit card import" in str(err.value)
    assert w.store.list_chats() == []


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
        (b'{"user_name": "A"}\n{"name":"B","mes":7}\n{"name":"B","mes":"x"}', ":2: 'mes' (the message text) must be text"),
        (b'{"user_name": "A"}\n{"name":"B","mes":"x","extra":[1]}\n{"name":"B","mes":"x"}', ":2: 'extra' must be an object"),
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
    from tui.core.profile import st_chats

    monkeypatch.setattr(st_chats, "MAX_LINE_BYTES", 100)
    data = b'{"user_name":"A"}\n{"name":"B","mes":"' + b"x" * 200 + b'"}\n{"name":"B","mes":"ok"}'
    with pytest.raises(ChatFileError, match=r"chat.jsonl:2: line too long"):
        read_st_bytes(data, Path("chat.jsonl"))
    monkeypatch.setattr(st_chats, "MAX_FILE_BYTES", 50)
    big = tmp_path / "big.jsonl"
    big.write_bytes(data)
    with pytest.raises(ChatFileError, match="file too large"):
        st_chats.read_st_file(big)


def test_a_bom_and_blank_lines_are_fine():
    chat = read_st_bytes(b'\xef\xbb\xbf{"user_name":"A"}\n\n{"name":"B","mes":"x"}\n\n', Path("c.jsonl"))
    assert chat.header == {"user_name": "A"} and [ln.line for ln in chat.lines] == [3]


# -- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-12T01:32:05.000Z", "2024-07-12T01:32:05+00:00"),
        ("2024-07-12T03:32:05+02:00", "2024-07-12T01:32:05+00:00"),
        (1720748220000, "2024-07-12T01:37:00+00:00"),
        ("1720748220000", "2024-07-12T01:37:00+00:00"),
        (1720748220000.5, "2024-07-12T01:37:00.000500+00:00"),
        ("June 19, 2023 2:20pm", "2023-06-19T14:20:00+00:00"),
        ("July 5, 2023 11:02pm", "2023-07-05T23:02:00+00:00"),
        ("December 1, 2023 12:05am", "2023-12-01T00:05:00+00:00"),
        ("December 1, 2023 12:05pm", "2023-12-01T12:05:00+00:00"),
        ("2023-7-5 @23h 02m 10s 123ms", "2023-07-05T23:02:10.123000+00:00"),
        ("2024-7-12@01h31m37s", "2024-07-12T01:31:37+00:00"),
        ("2025-11-23@14h05m12s007ms", "2025-11-23T14:05:12.007000+00:00"),
        ("sometime last summer", None),
        ("Smarch 3, 2023 1:00pm", None),
        ("2023-13-40 @25h 00m 00s 000ms", None),
        ("", None),
        (None, None),
        (True, None),
        (-5, None),
        (float("inf"), None),
        (10**20, None),
    ],
)
def test_send_date_forms(utc, value, expected):
    got = parse_st_time(value)
    assert (got.astimezone(timezone.utc).isoformat() if got else None) == expected


def test_humanized_dates_are_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # two hours east of UTC
    time.tzset()
    try:
        assert parse_st_time("July 5, 2023 11:02pm") == datetime(2023, 7, 5, 21, 2, tzinfo=timezone.utc)
        assert parse_st_time("2023-07-05T23:02:00Z") == datetime(2023, 7, 5, 23, 2, tzinfo=timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()


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


# -- speed ---------------------------------------------------------------------------------


def test_importing_20000_messages_takes_under_5_seconds(w, tmp_path):
    f = tmp_path / "long.jsonl"
    lines = [json.dumps({"user_name": "Alex", "character_name": "Seraphina", "create_date": "2024-7-12@01h31m37s",
                         "chat_metadata": {}})]
    for i in range(20_000):
        user = i % 2 == 1
        o = {"name": "Alex" if user else "Seraphina", "is_user": user, "is_system": False,
             "send_date": 1720748220000 + i * 1000, "mes": f"Message {i}: " + "the river runs on, " * 15,
             "extra": {} if user else {"token_count": 80, "reasoning": "thinking " * 20}}
        if not user:
            o.update(swipes=[o["mes"], "another " + o["mes"]], swipe_id=0,
                     swipe_info=[{"send_date": o["send_date"], "extra": {}}] * 2,
                     original_avatar="Seraphina.png", force_avatar="/thumbnail?type=avatar&file=Seraphina.png")
        lines.append(json.dumps(o))
    f.write_text("\n".join(lines), encoding="utf-8")
    start = time.perf_counter()
    result = import_st_chat(w, f)
    elapsed = time.perf_counter() - start
    print(f"imported 20,000 messages ({f.stat().st_size / 1e6:.1f} MB) in {elapsed:.2f} s")
    assert result.messages == 20_000
    assert elapsed < 5.0
    msgs, _ = w.store.messages(result.info.id)
    assert len(msgs) == 20_000 and msgs[-1].text.startswith("Message 19999: ")
    assert len({m.id for m in msgs}) == 20_000
