"""Group scenes through Session: turn policies and speaker attribution (scripted
engine), the safeword, the slow-down word and out-of-character lines; then on
the real model: stops for both personas, the safeword during a streaming
reply, boundaries in the prompt and a warm cache when the speaker changes."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
import tomllib

import pytest
from conftest import RecordingEngine, ScriptedEngine

from tui.core import paths
from tui.core.chat.session import (
    ReplyDone,
    ScenePaused,
    ScenePausedError,
    Session,
    SessionError,
    SlowDown,
    SpeakerStarted,
    message_kind,
)
from tui.core.config.settings import Config, replace
from tui.core.engine.api import Chunk, GenerationRequest, Sampling
from tui.core.errors import CandlelitError
from tui.core.profile.personas import PersonaProfile, add_persona
from tui.core.profile.workspace import Workspace
from tui.core.scene.rules import SceneSettings
from tui.core.storage.model import Message

GREEDY = Sampling(temperature=0.0, seed=3, max_tokens=40)

ALEX = PersonaProfile("Alex", "Tall, fond of puzzles.", ("heights",), ("jealousy",))
SAM = PersonaProfile("Sam", "Likes long walks.", ("loud arguments",), ("surprises",))


def workspace() -> Workspace:
    ws = Workspace(paths.resolve(), replace(Config(), chat={"user_name": "Sam"}))
    add_persona(ws.store, ALEX, "Sam")  # the profile's first persona is "Sam"
    from tui.core.profile.personas import update_persona

    update_persona(ws.store, SAM, "Sam", "Sam")
    return ws


def scripted(replies: list[str] | None = None, delay: float = 0.0) -> ScriptedEngine:
    eng = ScriptedEngine(replies or ["A scripted reply."], delay=delay)
    eng._info = dataclasses.replace(eng._info, n_ctx=65536)  # char tokens: room for two cards
    return eng


def group(ws: Workspace, engine, policy: str = "natural", narrator: bool = False, **kw) -> Session:
    info = ws.new_chat(
        ["mara", "vesper"], personas=["Alex", "Sam"], narrator=narrator,
        settings=SceneSettings(policy=policy, narrator=narrator, **kw),
    )
    s = Session(ws, info.id, engine)
    s.rng = random.Random(7)
    return s


def run(stream) -> list:
    return list(stream)


def speakers(events) -> list[str]:
    return [e.name for e in events if isinstance(e, SpeakerStarted)]


def prompt_of(request: GenerationRequest) -> str:
    """The text a scripted (character-level) engine was given."""
    return "".join(chr(t) for t in request.tokens[1:])


def chat_toml(s: Session) -> dict:
    with open(s.info.path / "chat.toml", "rb") as f:
        return tomllib.load(f)


# -- participants and attribution ------------------------------------------------


def test_chat_records_characters_personas_and_scene(home):
    ws = workspace()
    s = group(ws, scripted(), policy="round_robin", narrator=True)
    data = chat_toml(s)
    assert data["characters"] == ["mara", "vesper"]
    assert data["personas"] == ["Alex", "Sam"]
    assert data["scene"]["policy"] == "round_robin" and data["scene"]["narrator"] is True
    assert s.is_group and [p.name for p in s.personas] == ["Alex", "Sam"]
    assert s.personas[0].hard_limits == ("heights",)
    assert [e.slug for e in s.characters] == ["mara", "vesper"] and s.character.slug == "mara"
    assert s.ai_names == ["Mara", "Vesper", "Narrator"]
    one = Session(ws, ws.new_chat("mara").id, scripted())
    assert not one.is_group and one.personas[0].name == "Sam"


def test_new_chat_refuses_unknown_personas_and_clashing_names(home):
    ws = workspace()
    with pytest.raises(CandlelitError, match=r"no persona named 'Robin' \(personas: Sam, Alex"):
        ws.new_chat(["mara", "vesper"], personas=["Alex", "Robin"])
    add_persona(ws.store, PersonaProfile("Mara"), "Sam")
    with pytest.raises(CandlelitError, match="both called 'Mara'"):
        ws.new_chat(["mara"], personas=["Alex", "Mara"])
    with pytest.raises(CandlelitError, match="only once"):
        ws.new_chat(["mara", "mara"], personas=["Alex"])


def test_speaker_attribution_and_named_character_answers(home):
    ws = workspace()
    eng = scripted(["Vesper here.", "Mara here."])
    s = group(ws, eng)
    events = run(s.send("Vesper, are you ready for the final?", speaker="sam"))
    assert speakers(events) == ["Vesper"]
    assert isinstance(events[-1], ReplyDone) and events[-1].message.speaker == "Vesper"
    msgs = s.messages()
    assert (msgs[-2].speaker, msgs[-2].role, msgs[-2].text) == ("Sam", "user", "Vesper, are you ready for the final?")
    assert message_kind(msgs[-2]) == "human" and message_kind(msgs[-1]) == "character"
    # the prompt was Vesper's: her name at the end, the other three stop her
    prompt = eng.requests[-1]
    assert "\nVesper:" not in prompt.stop
    assert {"\nAlex:", "\nSam:", "\nMara:"} <= set(prompt.stop)
    events = run(s.send("Mara, what do you think?", speaker="Alex"))
    assert speakers(events) == ["Mara"]
    assert s.messages()[-2].speaker == "Alex"


def test_unknown_persona_is_a_clear_error(home):
    ws = workspace()
    s = group(ws, scripted())
    with pytest.raises(SessionError, match=r"'Robin' is not a persona in this chat \(personas: Alex, Sam\)"):
        s.send("hello", speaker="Robin")
    assert len(s.messages()) == 1  # only the greeting


def test_round_robin_takes_turns_without_repeats(home):
    ws = workspace()
    eng = scripted()
    s = group(ws, eng, policy="round_robin")
    order = []
    for i in range(4):
        order += speakers(run(s.send(f"line {i}", speaker="Alex" if i % 2 else "Sam")))
    # the greeting was Mara's, so Vesper starts
    assert order == ["Vesper", "Mara", "Vesper", "Mara"]


def test_natural_policy_never_repeats_the_last_speaker(home):
    ws = workspace()
    s = group(ws, scripted())
    order: list[str] = []
    for i in range(12):
        order += speakers(run(s.send(f"and then {i}", speaker="Sam")))
    assert set(order) == {"Mara", "Vesper"}
    assert all(a != b for a, b in itertools.pairwise(order))
    stored = [m.speaker for m in s.messages() if m.role == "assistant"]
    assert all(a != b for a, b in itertools.pairwise(stored))


def test_manual_generates_nothing_until_someone_is_picked(home):
    ws = workspace()
    eng = scripted(["At your service."])
    s = group(ws, eng, policy="manual", narrator=True)
    assert not s.would_generate("hello")
    assert run(s.send("Hello everyone.", speaker="Alex")) == []
    assert eng.requests == [] and s.messages()[-1].speaker == "Alex"
    events = run(s.reply_as("narrator"))
    assert speakers(events) == ["Narrator"]
    done = events[-1]
    assert done.message.speaker == "Narrator" and message_kind(done.message) == "narrator"
    assert eng.requests[-1].stop and "\nNarrator:" not in eng.requests[-1].stop
    with pytest.raises(SessionError, match=r"cannot answer in this chat \(characters: Mara, Vesper, Narrator\)"):
        s.reply_as("Robin")


def test_auto_runs_several_characters_then_hands_back(home):
    ws = workspace()
    eng = scripted(["One.", "Two.", "Three."])
    s = group(ws, eng, policy="auto", auto_turns=2)
    events = run(s.send("Tell us a story together.", speaker="Sam"))
    assert speakers(events) == ["Vesper", "Mara"]
    assert [type(e).__name__ for e in events if not isinstance(e, Chunk)] == [
        "SpeakerStarted", "ReplyDone", "SpeakerStarted", "ReplyDone"
    ]
    assert len(eng.requests) == 2
    # the second reply saw the first one in its prompt
    assert [m.speaker for m in s.messages()[-3:]] == ["Sam", "Vesper", "Mara"]
    assert not s.busy


def test_group_regenerate_keeps_the_replys_own_speaker(home):
    ws = workspace()
    eng = scripted(["First take.", "Second take."])
    s = group(ws, eng, policy="round_robin")
    run(s.send("Vesper?", speaker="Alex"))
    last = s.messages()[-1]
    assert last.speaker == "Vesper"
    events = run(s.regenerate())
    done = events[-1]
    assert done.message.id == last.id and done.message.speaker == "Vesper"
    assert done.message.swipes() == ["First take.", "Second take."]
    assert "\nVesper:" not in eng.requests[-1].stop and "\nMara:" in eng.requests[-1].stop
    assert s.swipe(-1).text == "First take."


# -- safeword, slow-down word, out of character ------------------------------------


def test_safeword_pauses_records_and_generates_nothing(home):
    ws = workspace()
    eng = scripted()
    s = group(ws, eng)
    events = run(s.send("  RED! ", speaker="Alex"))
    assert events == [ScenePaused("Alex", "red")]
    assert eng.requests == []
    last = s.messages()[-1]
    assert last.role == "system" and last.extra["signal"] == "red" and last.extra["by"] == "Alex"
    assert chat_toml(s)["scene"]["paused"] is True and s.paused
    for call in (lambda: s.send("go on", speaker="Sam"), s.reply, s.regenerate, s.continue_reply,
                 s.impersonate, lambda: s.reply_as("Mara")):
        with pytest.raises(ScenePausedError, match="paused"):
            call()
    assert eng.requests == []
    # out-of-character talk is still possible while paused; it gets no reply
    assert run(s.send("(( are you ok? ))", speaker="Sam")) == []
    assert s.messages()[-1].extra.get("ooc") is True and eng.requests == []
    msg = s.resume_scene("continue", speaker="Sam")
    assert msg.extra["signal"] == "continue" and not s.paused
    assert speakers(run(s.send("Shall we go on?", speaker="Sam")))


def test_change_of_direction_reaches_the_next_reply_only(home):
    ws = workspace()
    eng = scripted()
    s = group(ws, eng, policy="round_robin")
    run(s.send("red", speaker="Sam"))
    s.resume_scene("change", "a quiet walk home in the rain", speaker="Alex")
    volatile = next(x for x in s.build_prompt().sections if x.name == "volatile").text
    assert "a quiet walk home in the rain" in volatile
    run(s.send("Let's head out.", speaker="Alex"))
    sent = prompt_of(eng.requests[-1])
    assert "a quiet walk home in the rain" in sent.split("Alex: Let's head out.")[1]  # after the window
    assert "a quiet walk home in the rain" not in s.build_prompt().text  # a reply came since


def test_ending_the_scene_keeps_it_paused(home):
    ws = workspace()
    s = group(ws, scripted())
    with pytest.raises(SessionError, match="not paused"):
        s.resume_scene("continue")
    run(s.send("red", speaker="Sam"))
    s.resume_scene("end", speaker="Sam")
    assert s.paused and s.scene_ended
    with pytest.raises(ScenePausedError, match="ended"):
        s.send("hello again", speaker="Sam")
    with pytest.raises(SessionError, match="ended"):
        s.resume_scene("continue")
    with pytest.raises(SessionError, match="unknown choice"):
        s.resume_scene("later")


def test_slow_down_word_is_recorded_and_the_reply_checks_in(home):
    ws = workspace()
    eng = scripted()
    s = group(ws, eng, policy="round_robin")
    events = run(s.send("Yellow.", speaker="Sam"))
    assert isinstance(events[0], SlowDown) and events[0].by == "Sam"
    assert isinstance(events[-1], ReplyDone)
    signal = s.messages()[-2]
    assert signal.role == "system" and signal.extra == {"signal": "yellow", "by": "Sam"}
    prompt = prompt_of(eng.requests[-1])
    tail = prompt.split("The grey cat blinks")[1]  # after the greeting: the volatile part
    assert "Sam asked to slow down" in tail and "check in" in tail
    assert "Sam: Yellow." not in prompt  # the signal is not a story line
    assert "asked to slow down" not in s.build_prompt().text  # only for the next reply
    assert not s.paused


def test_out_of_character_lines_are_stored_but_not_in_the_story(home):
    ws = workspace()
    eng = scripted()
    s = group(ws, eng, policy="round_robin")
    assert run(s.send("(( brb, phone call ))", speaker="Alex")) == []
    assert eng.requests == []
    m = s.messages()[-1]
    assert m.speaker == "Alex" and m.extra["ooc"] is True
    run(s.send("Back! Where were we?", speaker="Alex"))
    prompt = prompt_of(eng.requests[-1])
    assert "phone call" not in prompt and "Alex: Back! Where were we?" in prompt


def test_interrupt_with_the_safeword_stops_the_stream_and_keeps_the_partial(home):
    ws = workspace()
    words = " ".join(f"word{i}" for i in range(200))
    eng = scripted([words], delay=0.01)
    s = group(ws, eng, policy="auto", auto_turns=2)
    stream = s.send("Tell a long tale, both of you.", speaker="Sam")
    got: list = []
    for ev in stream:
        got.append(ev)
        if isinstance(ev, Chunk) and sum(isinstance(e, Chunk) for e in got) == 3:
            assert s.interrupt("red", "Alex") == ScenePaused("Alex", "red")
    assert isinstance(got[-1], ScenePaused) and got[-1].by == "Alex"
    assert speakers(got) == ["Vesper"]  # the second character never started
    msgs = s.messages()
    reply, signal = msgs[-2], msgs[-1]
    assert reply.speaker == "Vesper" and reply.status == "stopped" and reply.text.startswith("word0 word1 word2")
    assert len(reply.text.split()) < 20
    assert signal.extra["signal"] == "red" and signal.extra["by"] == "Alex"
    assert sum(1 for m in msgs if m.extra.get("signal") == "red") == 1
    assert s.paused and not s.busy and len(eng.requests) == 1


def test_safeword_typed_while_busy_goes_through_send(home):
    ws = workspace()
    eng = scripted([" ".join(["la"] * 300)], delay=0.01)
    s = group(ws, eng, policy="round_robin")
    stream = s.send("Sing for us.", speaker="Sam")
    seen = threading.Event()
    out: list = []

    def consume() -> None:
        for ev in stream:
            out.append(ev)
            seen.set()

    t = threading.Thread(target=consume)
    t.start()
    assert seen.wait(5)
    assert run(s.send("red", speaker="Sam")) == [ScenePaused("Sam", "red")]
    t.join(10)
    assert not t.is_alive() and s.paused
    assert s.messages()[-2].status == "stopped"
    with pytest.raises(SessionError, match="only the safeword"):
        s.interrupt("hello", "Sam")


def test_memory_text_reaches_a_group_prompt(home):
    from tui.core.memory.document import Memory, save_memory

    ws = workspace()
    s = group(ws, scripted(), policy="round_robin")
    run(s.send("Vesper, hello.", speaker="Alex"))
    greeting = s.messages()[0]
    save_memory(s.info.path, Memory(summary="Alex once found an old map in the shop.", folded_upto=greeting.id))
    p = s.build_prompt()
    names = [x.name for x in p.sections]
    assert "memory" in names
    memory = next(x for x in p.sections if x.name == "memory").text
    assert "old map" in memory
    window = next(x for x in p.sections if x.name == "window").text
    assert "tired little ring" not in window  # the folded greeting left the window


# -- the real model ------------------------------------------------------------------


def _seed(ws: Workspace, chat_id: str, lines: list[tuple[str, str, str]]) -> None:
    for speaker, role, text in lines:
        ws.store.append(chat_id, Message.new(speaker, role, text))


def _counting_card(ws: Workspace) -> str:
    """A character without greeting or examples, so the chat itself leads."""
    from tui.core.cards.card import load_card_file, save_card_file

    ws.install_starters()
    card = load_card_file(ws.store.character_dir("mara") / "card.json")
    card.description = (
        "{{char}} plays a counting game with {{user}} and a friend: everyone says one number, "
        "always in the same order."
    )
    card.personality = card.scenario = card.first_mes = card.mes_example = ""
    card.alternate_greetings = []
    save_card_file(ws.store.character_dir("counter") / "card.json", card)
    return "counter"


@pytest.mark.parametrize("typing, partner", [("Sam", "Alex"), ("Alex", "Sam")])
def test_real_model_cannot_write_the_partners_line(home, engine, typing, partner):
    ws = workspace()
    info = ws.new_chat([_counting_card(ws)], personas=["Sam", "Alex"])
    # a fixed order: after Mara's "Two." always comes the partner's "Three."
    _seed(ws, info.id, [
        line
        for _ in range(6)
        for line in ((typing, "user", "One."), ("Mara", "assistant", "Two."), (partner, "user", "Three."))
    ])
    spy = RecordingEngine(engine)
    s = Session(ws, info.id, spy)
    events = run(s.send("One.", speaker=typing, sampling=GREEDY))
    reply = events[-1].message
    assert reply.speaker == "Mara" and reply.extra["finish"] == "stop" and reply.text
    assert f"{partner}:" not in reply.text and f"{typing}:" not in reply.text
    request = spy.requests[-1]
    assert {"\nAlex:", "\nSam:"} <= set(request.stop)
    # the same prompt without stops: the model goes on to write the partner's line,
    # so the stop string is what kept it from speaking for them
    raw = GenerationRequest(tokens=request.tokens, sampling=GREEDY, stop=())
    fin = [ev for ev in engine.stream(raw)][-1]
    assert f"\n{partner}:" in fin.text
    cut = min(fin.text.index(f"\n{name}:") for name in ("Alex", "Sam") if f"\n{name}:" in fin.text)
    assert reply.text == fin.text[:cut].strip()


def test_real_model_safeword_while_streaming_stops_within_one_token(home, engine, monkeypatch):
    ws = workspace()
    info = ws.new_chat(["the-narrator"], personas=["Alex", "Sam"])
    s = Session(ws, info.id, engine)
    produced = [0]
    original = engine._llm.generate

    def counting(*args, **kwargs):
        for tok in original(*args, **kwargs):
            produced[0] += 1
            yield tok

    monkeypatch.setattr(engine._llm, "generate", counting)
    stream = s.send("Describe the inn in great detail, room by room.", speaker="Alex",
                    sampling=Sampling(temperature=0.0, seed=2, max_tokens=400))
    events = []
    after = None
    for ev in stream:
        events.append(ev)
        if after is None and sum(isinstance(e, Chunk) for e in events) >= 5:
            s.interrupt("red", "Sam")
            after = produced[0]  # tokens generated by the time the safeword was in
    assert after is not None
    done = next(e for e in events if isinstance(e, ReplyDone))
    assert done.message.status == "stopped" and done.reason == "cancelled"
    assert produced[0] - after <= 1
    assert done.message.metrics["generated_tokens"] <= after + 1
    assert isinstance(events[-1], ScenePaused) and events[-1].by == "Sam"
    msgs = s.messages()
    assert msgs[-2].id == done.message.id and msgs[-1].extra["signal"] == "red"
    assert s.paused


def test_real_model_boundaries_in_prompt_and_cache_warm_across_speakers(home, engine):
    ws = workspace()
    info = ws.new_chat(["mara", "vesper"], personas=["Alex", "Sam"], settings=SceneSettings(policy="round_robin"))
    spy = RecordingEngine(engine)
    s = Session(ws, info.id, spy)
    prompt = s.build_prompt()
    system = prompt.sections[0].text
    assert "Hard limits" in system and "- heights (Alex)" in system and "- loud arguments (Sam)" in system
    assert "- jealousy (Alex)" in system and "- surprises (Sam)" in system
    first = run(s.send("Vesper, Mara: a quiet evening for both of you?", speaker="Alex", sampling=GREEDY))
    second = run(s.send("And you, Mara?", speaker="Sam", sampling=GREEDY))
    assert speakers(first) == ["Vesper"] and speakers(second) == ["Mara"]
    m2 = second[-1].message.metrics
    p1 = first[-1].message.metrics
    # the speaker changed, yet everything up to the previous reply was reused
    assert m2["reused_tokens"] >= p1["prompt_tokens"] - 30
    assert m2["reused_tokens"] > prompt.section_tokens("system")
    texts = [spy.prompt_text(i) for i in range(len(spy.requests))]
    assert texts[0].rstrip().endswith("Vesper:") and texts[1].rstrip().endswith("Mara:")
