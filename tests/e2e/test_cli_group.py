"""Group scenes through the real `candlelit` command: personas, a chat with two
characters and two personas, `chat say --as`, the safeword, `chat show --json`."""

from __future__ import annotations

import json
import tomllib

from test_cli import assert_user_error, cl


def personas(env) -> None:
    cl(env, "persona", "add", "Alex", "--description", "Tall, fond of puzzles.",
       "--hard-limit", "heights", "--soft-limit", "jealousy")
    cl(env, "persona", "add", "Sam", "--hard-limit", "loud arguments", "--hard-limit", "spiders")


def group_chat(env, *extra: str) -> str:
    personas(env)
    return cl(env, "chat", "new", "--character", "mara", "--character", "vesper",
              "--persona", "Alex", "--persona", "Sam", *extra).stdout.strip()


def show(env, chat_id: str) -> dict:
    return json.loads(cl(env, "chat", "show", chat_id, "--json").stdout)


def test_persona_add_list_remove(cli_env, home):
    personas(cli_env)
    listed = json.loads(cl(cli_env, "persona", "list", "--json").stdout)
    by_name = {p["name"]: p for p in listed}
    assert by_name["Alex"]["description"] == "Tall, fond of puzzles."
    assert by_name["Alex"]["hard_limits"] == ["heights"] and by_name["Alex"]["soft_limits"] == ["jealousy"]
    assert by_name["Sam"]["hard_limits"] == ["loud arguments", "spiders"]
    raw = tomllib.loads((home / "profiles" / "default" / "profile.toml").read_text())
    assert [p["name"] for p in raw["personas"]][-2:] == ["Alex", "Sam"]
    text = cl(cli_env, "persona", "list").stdout
    assert "Alex — Tall, fond of puzzles." in text and "hard limits: loud arguments; spiders" in text
    assert_user_error(cl(cli_env, "persona", "add", "alex", check=False), "already exists")
    assert_user_error(cl(cli_env, "persona", "add", "Al:ex", check=False), "cannot contain ':'")
    assert cl(cli_env, "persona", "remove", "Sam").stdout.strip() == "removed Sam"
    assert_user_error(cl(cli_env, "persona", "remove", "Sam", check=False), "no persona named 'Sam'")


def test_group_chat_say_as_persona_and_show(cli_env, home):
    chat_id = group_chat(cli_env, "--narrator", "--policy", "round_robin")
    data = tomllib.loads((home / "profiles" / "default" / "chats" / chat_id / "chat.toml").read_text())
    assert data["characters"] == ["mara", "vesper"] and data["personas"] == ["Alex", "Sam"]
    assert data["scene"]["narrator"] is True and data["scene"]["policy"] == "round_robin"

    r = cl(cli_env, "chat", "say", chat_id, "Vesper, ready for the final?", "--as", "sam",
           "--seed", "4", "--max-tokens", "24")
    out = r.stdout
    assert out.startswith("Vesper: ") and out.strip() != "Vesper:"
    shown = show(cli_env, chat_id)
    assert shown["group"] is True and shown["scene"]["paused"] is False
    msgs = shown["messages"]
    assert [(m["speaker"], m["role"]) for m in msgs] == [
        ("Mara", "character"), ("Sam", "human"), ("Vesper", "character"),
    ]
    assert msgs[1]["text"] == "Vesper, ready for the final?"
    assert out == f"Vesper: {msgs[2]['text']}\n"

    # the prompt names every participant's limits and stops every other name
    p = json.loads(cl(cli_env, "prompt", chat_id, "--json").stdout)
    system = p["sections"][0]["text"]
    assert "- heights (Alex)" in system and "- spiders (Sam)" in system
    assert p["reply_name"] == "Mara"  # next in turn after Vesper
    assert {"\nAlex:", "\nSam:", "\nVesper:", "\nNarrator:"} <= set(p["stop"])


def test_safeword_through_chat_say_pauses_and_generates_nothing(cli_env, home):
    chat_id = group_chat(cli_env)
    r = cl(cli_env, "chat", "say", chat_id, "Red.", "--as", "Alex")
    assert "the scene is paused" in r.stdout and "Alex used the safeword" in r.stdout
    msgs = show(cli_env, chat_id)["messages"]
    last = msgs[-1]
    assert len(msgs) == 2 and last["role"] == "system" and last["signal"] == "red" and last["by"] == "Alex"
    assert show(cli_env, chat_id)["scene"]["paused"] is True

    refused = cl(cli_env, "chat", "say", chat_id, "Shall we go on?", "--as", "Sam", check=False)
    assert_user_error(refused, "the scene is paused")
    assert len(show(cli_env, chat_id)["messages"]) == 2  # nothing stored, nothing generated

    text = cl(cli_env, "chat", "show", chat_id).stdout
    assert "[Alex used the safeword." in text

    resumed = cl(cli_env, "chat", "resume", chat_id, "change", "--note", "a calm walk home", "--as", "Sam")
    assert "change direction: a calm walk home" in resumed.stdout
    assert show(cli_env, chat_id)["scene"]["paused"] is False
    p = json.loads(cl(cli_env, "prompt", chat_id, "--json").stdout)
    volatile = next(s for s in p["sections"] if s["name"] == "volatile")["text"]
    assert "a calm walk home" in volatile


def test_group_errors_are_one_line(cli_env, home):
    chat_id = group_chat(cli_env)
    assert_user_error(
        cl(cli_env, "chat", "say", chat_id, "hello", "--as", "Robin", check=False),
        "'Robin' is not a persona in this chat (personas: Alex, Sam)",
    )
    assert_user_error(
        cl(cli_env, "chat", "new", "--character", "mara", "--persona", "Robin", check=False),
        "no persona named 'Robin'",
    )
    assert_user_error(
        cl(cli_env, "chat", "new", "--character", "mara", "--character", "mara", "--persona", "Alex", check=False),
        "only once",
    )
    assert_user_error(cl(cli_env, "chat", "resume", chat_id, "continue", check=False), "not paused")
    # out of character: stored, no reply, the model never loads
    r = cl(cli_env, "chat", "say", chat_id, "(( brb ))", "--as", "Alex")
    assert r.stdout == "" and "out of character" in r.stderr
    last = show(cli_env, chat_id)["messages"][-1]
    assert (last["speaker"], last["role"], last["ooc"]) == ("Alex", "human", True)


def test_one_to_one_show_uses_the_same_roles_and_keeps_the_stored_one(cli_env):
    chat_id = cl(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    shown = show(cli_env, chat_id)
    assert shown["group"] is False
    assert [(m["role"], m["stored_role"]) for m in shown["messages"]] == [("character", "assistant")]
