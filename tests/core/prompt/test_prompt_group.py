"""Group-scene prompts: joined cards in the stable part, the speaker only in the
volatile part, stops for every other participant, boundaries, OOC left out
(char-level tokenizer, no model)."""

from __future__ import annotations

import pytest

from tui.core.engine.scripted import ScriptedEngine
from tui.core.profile.personas import PersonaProfile
from tui.core.prompt.builder import PromptBuilder
from tui.core.prompt.formats import get_format
from tui.core.prompt.parts import CharacterText, PersonaText, SceneText, Turn
from tui.core.scene.rules import boundaries_text

char_tokens = ScriptedEngine().tokenize  # one token per character


def builder(n_ctx=8000, reserve=100, chunk=4, fmt="transcript") -> PromptBuilder:
    return PromptBuilder(get_format(fmt), char_tokens, n_ctx, reserve, system_text="Roleplay as {{char}}.", chunk=chunk)


MARA = CharacterText(
    name="Mara",
    description="{{char}} runs a bookshop and remembers {{user}}'s day.",
    personality="warm",
    scenario="A rainy evening.",
    mes_example="<START>\n{{user}}: Hello\n{{char}}: Welcome back.",
    post_history_instructions="Answer {{user}} kindly.",
)
VESPER = CharacterText(
    name="Vesper",
    description="{{char}} is a fencer and {{user}}'s rival.",
    personality="teasing",
    mes_example="<START>\n{{user}}: Rematch?\n{{char}}: Always.",
)
ALEX = PersonaProfile("Alex", "Tall, fond of puzzles.", ("heights", "loud arguments"), ("jealousy",))
SAM = PersonaProfile("Sam", "Likes long walks.", ("Loud arguments",), ("surprises",))
PERSONAS = [PersonaText(p.name, p.description) for p in (ALEX, SAM)]
BOUNDS = boundaries_text([ALEX, SAM])

HISTORY = [
    Turn("Mara", "assistant", "The shop bell rings."),
    Turn("Alex", "user", "Hello Mara, hello Vesper."),
    Turn("Vesper", "assistant", "You two again."),
    Turn("Sam", "user", "Good to see you both."),
]


def scene(speaker: str, **kw) -> SceneText:
    base = dict(
        characters=[MARA, VESPER],
        personas=PERSONAS,
        speaker=speaker,
        typing="Sam",
        narrator="Narrator",
        boundaries=BOUNDS,
    )
    base.update(kw)
    return SceneText(**base)


def section(p, name: str) -> str:
    return next(s.text for s in p.sections if s.name == name)


def test_stable_part_is_the_same_whoever_speaks():
    b = builder()
    prompts = {who: b.build_scene(scene(who), HISTORY) for who in ("Mara", "Vesper", "Narrator")}
    systems = {section(p, "system") for p in prompts.values()}
    assert len(systems) == 1
    # everything up to the end of the window is shared: only volatile + reply differ
    ends = []
    for p in prompts.values():
        window = next(s for s in p.sections if s.name == "window")
        ends.append(p.text[: len("".join(s.text for s in p.sections[: p.sections.index(window) + 1]))])
    assert len(set(ends)) == 1
    assert prompts["Mara"].text != prompts["Vesper"].text


def test_cards_joined_once_in_chat_order_speaker_only_in_volatile():
    p = builder().build_scene(scene("Vesper"), HISTORY)
    system = section(p, "system")
    assert system.count("Character: Mara") == 1 and system.count("Character: Vesper") == 1
    assert system.index("Character: Mara") < system.index("Character: Vesper")
    assert "Mara runs a bookshop" in system and "Vesper is a fencer" in system
    assert "Write the next reply only as" not in system
    volatile = section(p, "volatile")
    assert volatile.strip().endswith("Write the next reply only as Vesper.")
    assert p.text.endswith("\nVesper:") and p.reply_name == "Vesper"
    # both cards' example dialogue, each with its own {{char}}
    examples = section(p, "examples")
    assert "Mara: Welcome back." in examples and "Vesper: Always." in examples


def test_stops_cover_every_other_participant():
    p = builder().build_scene(scene("Mara"), HISTORY)
    assert set(p.stop) == {"\nAlex:", "\nSam:", "\nVesper:", "\nNarrator:"}
    n = builder().build_scene(scene("Narrator"), HISTORY)
    assert set(n.stop) == {"\nAlex:", "\nSam:", "\nMara:", "\nVesper:"}
    # a past speaker no longer in the scene still stops the reply
    old = builder().build_scene(scene("Mara"), HISTORY, other_names=["Robin"])
    assert "\nRobin:" in old.stop


def test_instruct_stops_keep_turn_markers_and_names():
    p = builder(fmt="chatml").build_scene(scene("Mara"), HISTORY)
    assert "<|im_end|>" in p.stop
    assert {"\nAlex:", "\nSam:", "\nVesper:", "\nNarrator:"} <= set(p.stop)


def test_personas_and_union_of_boundaries_in_the_stable_part():
    p = builder().build_scene(scene("Mara"), HISTORY)
    system = section(p, "system")
    assert "About Alex: Tall, fond of puzzles." in system
    assert "About Sam: Likes long walks." in system
    assert "- heights (Alex)" in system
    assert "- loud arguments (Alex and Sam)" in system  # once, both owners
    assert system.count("loud arguments") == 1
    assert "- jealousy (Alex)" in system and "- surprises (Sam)" in system
    assert "The narrator (Narrator)" in system
    assert "play Alex and Sam; the characters are Mara and Vesper." in system


def test_macros_first_persona_in_cards_typing_persona_in_volatile():
    p = builder().build_scene(scene("Mara", typing="Sam"), HISTORY)
    assert "remembers Alex's day" in section(p, "system")
    assert "Answer Sam kindly." in section(p, "volatile")
    q = builder().build_scene(scene("Mara", typing="Alex"), HISTORY)
    assert section(q, "system") == section(p, "system")
    assert "Answer Alex kindly." in section(q, "volatile")
    # Mara's post-history instructions are hers alone
    assert "kindly" not in builder().build_scene(scene("Vesper"), HISTORY).text.split("Sam: Good to see you both.")[1]


def test_ooc_lines_are_kept_out_of_the_story():
    turns = [*HISTORY, Turn("Alex", "user", "(( brb, the kettle ))"), Turn("Sam", "user", "OOC: one sec")]
    p = builder().build_scene(scene("Mara"), turns)
    assert "kettle" not in p.text and "one sec" not in p.text
    assert "Good to see you both." in p.text
    one = builder().build(MARA, "Sam", "", [Turn("Sam", "user", "// ignore this"), Turn("Sam", "user", "Hi")])
    assert "ignore this" not in one.text and "Sam: Hi" in one.text


def test_directions_go_in_the_volatile_part_before_the_speaker_line():
    p = builder().build_scene(scene("Mara", directions=["Slow down and check in."]), HISTORY)
    volatile = section(p, "volatile")
    assert volatile.index("Slow down and check in.") < volatile.index("Write the next reply only as Mara.")
    assert "Slow down" not in section(p, "system")


def test_memory_section_in_a_scene():
    p = builder().build_scene(scene("Mara"), HISTORY, memory_text="Summary: {{user}} found a map.")
    assert [s.name for s in p.sections] == ["system", "examples", "memory", "window", "volatile", "reply"]
    assert section(p, "memory").strip() == "Summary: Alex found a map."
    assert sum(s.tokens for s in p.sections) == len(p.tokens) == len(p.text) + 1


def test_a_persona_can_be_the_speaker_for_a_drafted_line():
    p = builder().build_scene(scene("Alex"), HISTORY)
    assert p.text.endswith("\nAlex:")
    assert set(p.stop) == {"\nSam:", "\nMara:", "\nVesper:", "\nNarrator:"}


def test_scene_window_is_cut_in_whole_chunks():
    turns = [Turn("Alex" if i % 2 else "Mara", "user" if i % 2 else "assistant", f"line {i} " + "z" * 60)
             for i in range(60)]
    p = builder(n_ctx=2000, reserve=100, chunk=4).build_scene(scene("Mara"), turns)
    assert len(p.tokens) <= p.budget
    assert p.window_start > 0 and p.window_start % 4 == 0
    assert p.dropped_examples


def test_scene_needs_someone_to_speak():
    with pytest.raises(ValueError):
        builder().build_scene(SceneText(characters=[], personas=PERSONAS, speaker="X"), HISTORY)


# -- one-to-one chats are unchanged -------------------------------------------------


GOLDEN = (
    "Roleplay as Mara.\n\n"
    "Mara runs a bookshop and remembers Sam's day.\n"
    "Mara's personality: warm\n"
    "Scenario: A rainy evening.\n\n"
    "About Sam: a night-shift nurse\n\n"
    "Example dialogue:\nSam: Hello\nMara: Welcome back.\n\n"
    "Mara: The shop bell rings.\n"
    "Sam: Hi\n"
    "\nAnswer Sam kindly.\n\n"
    "Mara:"
)


def test_one_to_one_prompt_text_is_unchanged():
    turns = [Turn("Mara", "assistant", "The shop bell rings."), Turn("Sam", "user", "Hi")]
    p = builder().build(MARA, "Sam", "a night-shift nurse", turns)
    assert p.text == GOLDEN
    assert p.stop == ["\nSam:"]


def test_one_to_one_with_boundaries_and_directions():
    turns = [Turn("Mara", "assistant", "The shop bell rings."), Turn("Sam", "user", "Hi")]
    p = builder().build(
        MARA, "Sam", "a night-shift nurse", turns,
        boundaries=boundaries_text([SAM]), directions=["Slow down."],
    )
    system = section(p, "system")
    assert system.rstrip().endswith("- surprises (Sam)")
    assert "- Loud arguments (Sam)" in system
    volatile = section(p, "volatile")
    assert volatile.index("Answer Sam kindly.") < volatile.index("Slow down.")
    assert "Write the next reply only" not in p.text
