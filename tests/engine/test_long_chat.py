"""Long chats on the real model: folding into memory, the cache around it
(context shift, background pre-evaluation, resume), all at temperature 0."""

from __future__ import annotations

import itertools
import os
import stat
import threading
import time

import pytest

from tui.core import paths
from tui.core.chat.session import ReplyDone, Session
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.engine.api import GenerationRequest, Sampling
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.settings import EngineSettings
from tui.core.memory import kv_state
from tui.core.memory.document import Fact, Memory, load_memory, memory_path, save_memory
from tui.core.memory.fold import window_start
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

GREEDY = Sampling(temperature=0.0, seed=7, max_tokens=10)
NEXT = Sampling(temperature=0.0, seed=7, max_tokens=4)

LINES = [
    ("Sam", "user", "I moved to Lisbon last spring and I work at a bakery near the river."),
    ("Mara", "assistant", "A bakery by the river! Do you bake the custard tarts yourself?"),
    ("Sam", "user", "Every morning at five. My sister Ines visits on Sundays."),
    ("Mara", "assistant", "Then Sunday must smell of cinnamon. What does Ines do?"),
    ("Sam", "user", "She repairs old clocks in a shop in Porto."),
    ("Mara", "assistant", "A clockmaker and a baker. Your family keeps good time."),
    ("Sam", "user", "We plan to sail to the Azores together next summer."),
    ("Mara", "assistant", "The Azores in summer sound lovely. Who will steer the boat?"),
]


def make_ws(**memory) -> Workspace:
    cfg = replace(
        Config(),
        chat={"user_name": "Sam"},
        model={"n_ctx": 1024},
        prompt={"window_budget": 160},
        memory={"fold_fraction": 0.4, **memory},
    )
    ws = Workspace(paths.resolve(), cfg)
    ws.install_starters()
    return ws


@pytest.fixture(scope="module")
def small_engine(model_path):
    eng = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=1024))
    eng.load()
    yield eng
    eng.close()


def fill(ws: Workspace, chat_id: str, rounds: int = 1) -> list[Message]:
    out = []
    for r in range(rounds):
        for who, role, text in LINES:
            m = Message.new(who, role, text if r == 0 else f"{text} ({r})")
            ws.store.append(chat_id, m)
            out.append(m)
    return out


def window_ids(s: Session) -> list[str]:
    msgs = [m for m in s.messages() if m.text.strip()]
    return [m.id for m in msgs[window_start([m.id for m in msgs], s.memory().folded_upto):]]


def test_folds_move_the_cut_by_chunks_and_lose_nothing(home, small_engine):
    ws = make_ws()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    fill(ws, chat.id)
    assert s.maintain_memory().folds == 0 or True  # may or may not be over budget yet
    fill(ws, chat.id, rounds=2)
    history = [m.id for m in s.messages() if m.text.strip()]
    uptos = []
    for _ in range(3):
        before = s.memory().folded_upto
        up = s.maintain_memory()
        assert up.failed == "", up.failed
        m = s.memory()
        if m.folded_upto != before:
            uptos.append(m.folded_upto)
        if s.mem.plan() is None:
            break
    assert uptos, "a window far over its budget must fold"
    m = s.memory()
    assert m.summary.strip()
    # every message is in memory (at or before folded_upto) or in the window
    idx = history.index(m.folded_upto)
    prompt = s.build_prompt()
    window_text = next(x.text for x in prompt.sections if x.name == "window")
    msgs = {x.id: x for x in s.messages()}
    for mid in history[idx + 1:]:
        assert msgs[mid].text in window_text
    assert prompt.window_start == 0  # the builder did not have to cut anything
    # the cut moved by whole chunks: several messages per fold, never one per turn
    positions = [history.index(u) for u in uptos]
    assert positions[0] >= 1 and all(b - a >= 2 for a, b in itertools.pairwise([-1, *positions]))
    # and the window is now within its budget
    assert s.mem.plan() is None
    # memory sits between the stable part and the window
    names = [x.name for x in prompt.sections]
    assert names.index("memory") < names.index("window")
    assert "Story so far:" in next(x.text for x in prompt.sections if x.name == "memory")


def test_pinned_text_and_facts_survive_folds(home, small_engine):
    ws = make_ws()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    save_memory(chat.path, Memory(
        pinned_summary="Sam and Mara are old friends from art school.",
        facts=[Fact("Sam is allergic to almonds", pinned=True)],
    ))
    fill(ws, chat.id, rounds=3)
    assert s.maintain_memory().folds >= 1
    m = load_memory(chat.path)
    assert m.pinned_summary == "Sam and Mara are old friends from art school."
    assert Fact("Sam is allergic to almonds", pinned=True) in m.facts
    assert m.folded_upto is not None and m.summary.strip()
    text = s.build_prompt().text
    assert "old friends from art school" in text and "allergic to almonds" in text


def test_hand_edits_to_memory_md_are_picked_up(home, small_engine):
    ws = make_ws()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    msgs = fill(ws, chat.id)
    path = memory_path(chat.path)
    path.write_text(
        f"<!-- candlelit memory v1; folded-upto: {msgs[3].id} -->\n"
        "# Summary\nSam told Mara about the lighthouse keeper's cat.\n"
        "# Facts\n- [pinned] The cat is called Biscuit\n",
        encoding="utf-8",
    )
    prompt = s.build_prompt()
    mem = next(x.text for x in prompt.sections if x.name == "memory")
    window = next(x.text for x in prompt.sections if x.name == "window")
    assert "lighthouse keeper's cat" in mem and "Biscuit" in mem
    assert msgs[3].text not in window and msgs[4].text in window  # the window starts after the edit's cut


def test_a_user_turn_preempts_the_summary_and_memory_stays(home, small_engine):
    ws = make_ws()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    save_memory(chat.path, Memory(summary="They met at the harbour."))
    before = memory_path(chat.path).read_bytes()
    fill(ws, chat.id, rounds=3)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("up", s.maintain_memory()))
    t.start()
    deadline = time.monotonic() + 20
    while not small_engine._owner.in_background and time.monotonic() < deadline:
        time.sleep(0.005)
    assert small_engine._owner.in_background, "the summary never started"
    events = list(s.send("Wait, before you go on: what time is it?", sampling=GREEDY))
    t.join(timeout=60)
    assert isinstance(events[-1], ReplyDone)
    assert "reply came first" in result["up"].failed
    assert memory_path(chat.path).read_bytes() == before


@pytest.mark.parametrize("mode", ["on", "off"])
def test_shift_and_exact_warmup_give_the_same_next_tokens_as_a_cold_evaluation(
    home, model_path, small_engine, mode
):
    ws = make_ws(context_shift=mode)
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    fill(ws, chat.id, rounds=3)
    list(s.reply(sampling=GREEDY))        # the chat is now in the cache
    up = s.maintain_memory()               # fold, then shift the window into place / re-read it
    assert up.folds >= 1 and up.warm["mode"] == ("shift" if mode == "on" else "exact"), up
    if mode == "on":
        assert up.warm["shifted_tokens"] > 100
    else:
        assert up.warm["shifted_tokens"] == 0 and up.warm["prefilled_tokens"] > 100
    # the next tokens: llama.cpp's CPU kernels round differently for other
    # batch splits, so even plain prefix reuse is not bit-exact and a long
    # greedy continuation can flip where two tokens are nearly tied
    # (bench/shift_drift.py measures that); the next tokens must agree
    shifted = list(s.reply(sampling=NEXT))[-1]
    m = shifted.message.metrics
    assert m["reused_tokens"] + m["evaluated_tokens"] == m["prompt_tokens"]
    assert m["evaluated_tokens"] <= 8  # the warm-up left (almost) the whole prompt cached
    cold_engine = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=1024, context_shift=False))
    cold_engine.load()
    try:
        cold = Session(ws, chat.id, cold_engine)  # the same chat, read by a fresh engine
        prompt = cold.prompts.prompt(cold.messages()[:-1])
        fin = [e for e in cold_engine.stream(GenerationRequest(prompt.tokens, NEXT, prompt.stop))][-1]
    finally:
        cold_engine.close()
    assert fin.metrics["reused_tokens"] == 0
    assert shifted.message.metrics["prompt_tokens"] == fin.metrics["prompt_tokens"]
    assert shifted.message.text == fin.text.strip()


def test_resume_restores_the_cache_and_the_same_reply(home, model_path):
    ws = make_ws(enabled=False)
    chat = ws.new_chat("mara")
    fill(ws, chat.id, rounds=2)
    settings = EngineSettings(model_path=model_path, n_ctx=1024)
    with LlamaCppEngine(settings) as eng:
        s = Session(ws, chat.id, eng)
        cold = s.build_prompt()
        first = [e for e in eng.stream(GenerationRequest(cold.tokens, GREEDY, cold.stop))][-1]
        assert s.mem.save_cache() > 0
    folder = kv_state.state_dir(chat.path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert (folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    with LlamaCppEngine(settings) as eng:
        s = Session(ws, chat.id, eng)
        assert s.mem.restore_cache() > 0
        again = [e for e in eng.stream(GenerationRequest(cold.tokens, GREEDY, cold.stop))][-1]
    assert again.metrics["reused_tokens"] == len(cold.tokens) - 1
    assert again.text == first.text


def test_a_stale_or_damaged_state_file_is_discarded(home, model_path):
    ws = make_ws(enabled=False)
    chat = ws.new_chat("mara")
    fill(ws, chat.id)
    settings = EngineSettings(model_path=model_path, n_ctx=1024)
    with LlamaCppEngine(settings) as eng:
        s = Session(ws, chat.id, eng)
        list(s.reply(sampling=GREEDY))
        assert s.mem.save_cache() > 0
    folder = kv_state.state_dir(chat.path)
    with open(folder / kv_state.STATE_FILE, "ab") as f:
        f.write(b"x")  # size no longer matches the sidecar
    with LlamaCppEngine(replace_settings(settings, n_ctx=1024)) as eng:
        assert Session(ws, chat.id, eng).mem.restore_cache() == 0
    assert not (folder / kv_state.STATE_FILE).exists()
    # over the size cap: nothing is written
    ws2 = Workspace(ws.paths, replace(ws.config, memory={"state_max_mb": 0}))
    with LlamaCppEngine(settings) as eng:
        s = Session(ws2, chat.id, eng)
        list(s.reply(sampling=GREEDY))
        assert s.mem.save_cache() == 0
    assert not (folder / kv_state.STATE_FILE).exists()
    # deleting the chat deletes its state files
    ws.store.delete_chat(chat.id)
    assert not chat.path.exists()


def replace_settings(s: EngineSettings, **kw) -> EngineSettings:
    from dataclasses import replace as dc_replace

    return dc_replace(s, **kw)


def test_carry_over_starts_a_new_chat_with_the_old_memory(home):
    ws = make_ws()
    old = ws.new_chat("mara")
    save_memory(old.path, Memory(summary="They baked bread.", pinned_summary="Friends.",
                                 facts=[Fact("Sam lives in Lisbon")], folded_upto="0" * 19))
    new = ws.new_chat("mara", carry_memory=True)
    m = load_memory(new.path)
    assert (m.summary, m.pinned_summary, m.facts, m.folded_upto) == (
        "They baked bread.", "Friends.", [Fact("Sam lives in Lisbon")], None)
    plain = ws.new_chat("mara")
    assert load_memory(plain.path).is_empty
    assert not os.path.exists(memory_path(plain.path))


def test_resummarize_rewrites_the_summary_aside_and_keeps_pinned_text(home, small_engine):
    ws = make_ws()
    chat = ws.new_chat("mara")
    s = Session(ws, chat.id, small_engine)
    fill(ws, chat.id, rounds=3)
    assert s.maintain_memory().folds >= 1
    m = load_memory(chat.path)
    save_memory(chat.path, Memory(summary="A summary written by hand.", pinned_summary="Keep me.",
                                  facts=m.facts, folded_upto=m.folded_upto))
    up = s.mem.resummarize()
    assert up.failed == "" and up.folds >= 1
    again = load_memory(chat.path)
    assert again.summary.strip() and "written by hand" not in again.summary
    assert again.pinned_summary == "Keep me." and again.folded_upto == m.folded_upto
    assert again.facts[: len(m.facts)] == m.facts
    # one job at a time
    with s.mem._busy:
        assert s.mem.resummarize().failed == "memory is already being updated"
