"""SillyTavern chats imported (tui.core.profile.st_import, st_cast), on fixtures written
in SillyTavern's format (tests/fixtures/st/), through the real Store,
Workspace and Session: what comes in, what the prompt sees, and that
ST -> Candlelit -> ST gives back every line SillyTavern reads."""

from __future__ import annotations

import json
import time

import pytest
from st_helpers import FIXTURES, big_engine, fixture_lines, st_lines, utc, w  # noqa: F401  (fixtures)

from tui.core.chat.session import Session
from tui.core.profile.chat_export import export_chat
from tui.core.profile.personas import PersonaProfile, add_persona, list_personas
from tui.core.profile.st_import import import_st_chat
from tui.core.profile.st_read import ChatFileError
from tui.core.storage.toml_files import read_toml

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
