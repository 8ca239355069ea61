"""One turn end to end through Session on the real model."""

from __future__ import annotations

from conftest import RecordingEngine

from tui.core import paths
from tui.core.chat.session import ReplyDone, Session
from tui.core.config.settings import Config, replace
from tui.core.engine.api import Chunk, Sampling
from tui.core.profile.workspace import Workspace

GREEDY = Sampling(temperature=0.0, seed=3, max_tokens=40)


def workspace() -> Workspace:
    return Workspace(paths.resolve(), replace(Config(), chat={"user_name": "Sam"}))


def test_turn_is_durable_streamed_committed_and_cache_warm(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    seen_on_disk: list[list[str]] = []
    spy = RecordingEngine(engine, lambda: seen_on_disk.append([m.text for m in ws.store.messages(chat.id)[0]]))
    s = Session(ws, chat.id, spy)
    assert s.format.name == "transcript"  # the bundled base model

    events = list(s.send("Hello Mara, it rained all day.", sampling=GREEDY))
    assert seen_on_disk[0][-1] == "Hello Mara, it rained all day."  # durable before generation
    chunks = "".join(e.text for e in events if isinstance(e, Chunk))
    done = events[-1]
    assert isinstance(done, ReplyDone) and done.message.status == "ok"
    assert done.message.speaker == "Mara" and done.message.text == chunks.strip()
    assert chunks.strip() and "Sam:" not in chunks
    m1 = done.message.metrics
    assert {"prompt_tokens", "reused_tokens", "evaluated_tokens", "ttft_s", "tokens_per_s"} <= set(m1)

    msgs = s.messages()
    assert [m.role for m in msgs] == ["assistant", "user", "assistant"]  # greeting, user, reply

    events = list(s.send("Do you have a book about the sea?", sampling=GREEDY))
    m2 = events[-1].message.metrics
    assert m2["reused_tokens"] >= m1["prompt_tokens"]  # the prefix stayed in the KV cache
    assert m2["evaluated_tokens"] < 40


def test_stopped_reply_is_kept_and_marked(home, engine):
    ws = workspace()
    chat = ws.new_chat("vesper")
    s = Session(ws, chat.id, engine)
    stream = s.send(
        "Tell me a long story about your first duel.", sampling=Sampling(temperature=0, seed=1, max_tokens=200)
    )
    got = ""
    for ev in stream:
        assert isinstance(ev, Chunk)
        got += ev.text
        break  # stop after the first streamed piece
    stream.close()  # like Esc / Ctrl+C: keep what was generated
    last = s.messages()[-1]
    assert last.role == "assistant" and last.status == "stopped"
    assert last.text.startswith(got.strip()) and last.text


def test_prompt_shows_persona_card_and_window(home, engine):
    ws = workspace()
    chat = ws.new_chat("mara")
    p = Session(ws, chat.id, engine).build_prompt()
    assert p.text.endswith("\nMara:")
    assert "Mara" in p.sections[0].text and "bookseller" in p.sections[0].text
    assert p.stop == ["\nSam:"]
    assert sum(sec.tokens for sec in p.sections) == len(p.tokens)


def test_card_lorebook_triggers_on_the_real_model_and_keeps_cache_warm(home, engine):
    from tui.core.cards.card import load_card_file, save_card_file

    ws = workspace()
    ws.install_starters()
    path = ws.store.character_dir("mara") / "card.json"
    card = load_card_file(path)
    card.character_book = {
        "name": "Shop",
        "entries": [
            {"keys": ["lighthouse"], "content": "{{char}} once lived in the lighthouse at Brackwater Point.",
             "enabled": True, "insertion_order": 10, "extensions": {}},
        ],
        "extensions": {},
    }
    save_card_file(path, card)
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, engine)
    first = list(s.send("Hello Mara.", sampling=GREEDY))[-1].message
    assert "Brackwater" not in s.build_prompt().text
    list(s.send("Have you ever seen the old lighthouse?", sampling=GREEDY))
    prompt = s.build_prompt()
    volatile = next(sec for sec in prompt.sections if sec.name == "volatile")
    assert "Mara once lived in the lighthouse at Brackwater Point." in volatile.text
    second = s.messages()[-1]
    assert second.role == "assistant" and second.text
    # the lore went after the window: the previous turn's prompt was still reused
    assert second.metrics["reused_tokens"] >= first.metrics["prompt_tokens"]
