"""Group-scene logic: settings, turn taking, safeword, OOC, boundaries, typing."""

from __future__ import annotations

import random
import tomllib
from collections import Counter
from dataclasses import replace
from itertools import pairwise

import pytest
import tomli_w

from tui.core.cards.card import Card
from tui.core.errors import CandlelitError
from tui.core.profile.personas import PersonaProfile
from tui.core.scene.rules import (
    Participant,
    SceneError,
    SceneSettings,
    boundaries_text,
    character_participant,
    find_mention,
    is_ooc,
    is_safeword,
    last_ai_speaker,
    load_scene_settings,
    next_persona,
    next_speakers,
    parse_talkativeness,
    persona_by_number,
    scene_settings_to_toml,
    speaker_instruction,
    stop_names,
    strip_ooc,
)
from tui.core.storage.model import Message

A, B, C = Participant("Mara"), Participant("Vesper"), Participant("Quill")
HUMANS = [Participant("Alex", "human"), Participant("Sam", "human")]


def settings(policy: str = "natural", **kw: object) -> SceneSettings:
    return SceneSettings(policy=policy, **kw)  # type: ignore[arg-type]


def play(chars, policy: str, turns: int, seed: int = 1, text: str = "hello", **kw) -> list[list[str]]:
    """Run ``turns`` human messages, each answered by the chosen speakers."""
    rng = random.Random(seed)
    history: list[str] = []
    out = []
    s = settings(policy, **kw)
    for turn in range(turns):
        history.append(HUMANS[turn % 2].name)
        who = next_speakers([*HUMANS, *chars], history, text, s, rng)
        out.append(who)
        history.extend(who)
    return out


# -- settings --------------------------------------------------------------


def test_defaults_and_round_trip_through_chat_toml() -> None:
    assert load_scene_settings({}) == SceneSettings()
    assert SceneSettings().safeword == "red" and SceneSettings().slowword == "yellow"
    custom = SceneSettings("auto", 3, True, True, "Pine  apple", "amber")
    assert custom.safeword == "Pine apple"
    chat = {"version": 1, "title": "x", "scene": scene_settings_to_toml(custom)}
    back = tomllib.loads(tomli_w.dumps(chat))
    assert load_scene_settings(back) == custom


def test_unknown_scene_keys_are_ignored() -> None:
    assert load_scene_settings({"scene": {"policy": "manual", "future": 1}}) == settings("manual")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"policy": "chaos"}, "unknown turn policy 'chaos'"),
        ({"auto_turns": 0}, "auto_turns must be a whole number from 1 to 20"),
        ({"auto_turns": True}, "auto_turns must be"),
        ({"auto_turns": 21}, "auto_turns must be"),
        ({"allow_repeat": "yes"}, "allow_repeat must be true or false"),
        ({"safeword": ""}, "safeword needs at least one letter"),
        ({"safeword": "!!"}, "safeword needs at least one letter"),
        ({"safeword": "a\nb"}, "safeword must be on one line"),
        ({"safeword": "Yellow."}, "must differ"),
        ({"slowword": 3}, "slow-down word must be text"),
    ],
)
def test_bad_scene_settings_are_one_line_errors(table: dict, fragment: str) -> None:
    with pytest.raises(SceneError) as info:
        load_scene_settings({"scene": table})
    assert fragment in str(info.value)
    assert str(info.value).startswith("chat.toml [scene]: ")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, CandlelitError)


def test_scene_must_be_a_table() -> None:
    with pytest.raises(SceneError, match=r"\[scene\] must be a table"):
        load_scene_settings({"scene": "natural"})


# -- participants ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.8", 0.8), (" 0.25 ", 0.25), (1, 1.0), (0, 0.0), (2.5, 1.0), (-1, 0.0),
     ("lots", 0.5), (None, 0.5), (True, 0.5), (float("nan"), 0.5), ([1], 0.5)],
)
def test_talkativeness_is_parsed_and_clamped(value: object, expected: float) -> None:
    assert parse_talkativeness(value) == expected


def test_character_participant_reads_the_card_extension() -> None:
    card = Card(name="Mara Vell", nickname="Mara", extensions={"talkativeness": "0.9"})
    assert character_participant(card) == Participant("Mara", "character", 0.9)
    assert character_participant(Card(name="Quill")).talkativeness == 0.5


def test_participant_kind_and_name_are_checked() -> None:
    with pytest.raises(SceneError, match="unknown participant kind 'robot'"):
        Participant("X", "robot")
    with pytest.raises(SceneError, match="needs a name"):
        Participant("  ")


# -- mentions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Vesper, what do you think? And Mara?", "Vesper"),
        ("mara and VESPER", "Mara"),
        ("What about Mara's book?", "Mara"),
        ("Maradona scored", None),  # whole words only
        ("the vespers rang", None),
        ("I'll ask Quill later, Mara", "Quill"),
        ("nobody in particular", None),
    ],
)
def test_find_mention(text: str, expected: str | None) -> None:
    assert find_mention(["Mara", "Vesper", "Quill"], text) == expected


def test_first_name_counts_when_unique_and_longer_match_wins() -> None:
    assert find_mention(["Mara Vell", "Quill"], "hey mara, hi") == "Mara Vell"
    assert find_mention(["Mara Vell", "Mara Quinn"], "hey Mara") is None  # ambiguous
    assert find_mention(["Mara", "Mara Vell"], "Mara   Vell, hi") == "Mara Vell"
    assert find_mention(["Mara", "Mara Vell"], "Mara, hi") == "Mara"
    assert find_mention(["Dr. Ash"], "ask dr.  ash") == "Dr. Ash"


# -- who speaks next -------------------------------------------------------


def test_naming_wins_under_every_speaking_policy_even_over_no_repeat() -> None:
    rng = random.Random(0)
    for policy in ("natural", "round_robin"):
        for _ in range(20):
            got = next_speakers([A, B, C], ["Mara", "Alex"], "Mara, again please", settings(policy), rng)
            assert got == ["Mara"]


def test_manual_policy_leaves_the_choice_to_the_ui() -> None:
    assert next_speakers([A, B], [], "Mara?", settings("manual"), random.Random(0)) == []


def test_no_characters_no_speakers() -> None:
    assert next_speakers(HUMANS, [], "hi", settings(), random.Random(0)) == []


def test_round_robin_cycles_in_chat_order_over_many_turns() -> None:
    turns = play([A, B, C], "round_robin", 30)
    assert all(len(t) == 1 for t in turns)
    assert [t[0] for t in turns] == ["Mara", "Vesper", "Quill"] * 10


def test_round_robin_continues_after_the_last_ai_speaker() -> None:
    history = [Message.new("Vesper", "assistant", "hi"), Message.new("Alex", "user", "hey")]
    assert next_speakers([A, B, C], history, "so", settings("round_robin"), random.Random(0)) == ["Quill"]
    dicts = [{"speaker": "quill"}, {"speaker": "Sam"}]
    assert next_speakers([A, B, C], dicts, "so", settings("round_robin"), random.Random(0)) == ["Mara"]


def test_natural_never_repeats_the_previous_ai_and_always_answers() -> None:
    chars = [A, B, replace(C, talkativeness=0.9)]
    turns = play(chars, "natural", 400, seed=7)
    flat: list[str] = []
    for who in turns:
        assert who, "somebody always answers"
        assert len(who) == len(set(who))
        assert set(who) <= {"Mara", "Vesper", "Quill"}
        flat.extend(who)
    # the AI replies, read in order, never show the same character twice in a row
    assert all(x != y for x, y in pairwise(flat))
    assert any(len(t) > 1 for t in turns)  # several can answer one message


def test_natural_follows_talkativeness() -> None:
    chatty, shy, mid = (
        Participant("Chatty", talkativeness=0.9),
        Participant("Shy", talkativeness=0.1),
        Participant("Mid"),
    )
    counts = Counter(n for t in play([chatty, shy, mid], "natural", 600, seed=3) for n in t)
    assert counts["Chatty"] > counts["Mid"] > counts["Shy"] > 0


def test_talkativeness_zero_is_never_chosen_while_someone_else_can() -> None:
    mute = Participant("Mute", talkativeness=0.0)
    turns = play([A, B, mute], "natural", 300, seed=5)
    assert all("Mute" not in t for t in turns)


def test_talkativeness_zero_answers_when_nobody_else_can() -> None:
    mute = Participant("Mute", talkativeness=0.0)
    rng = random.Random(0)
    for _ in range(20):
        # Mara spoke last and may not repeat: the mute one is the only choice
        assert next_speakers([A, mute], ["Mara"], "hi", settings(), rng) == ["Mute"]
    both_mute = [mute, Participant("Still", talkativeness=0.0)]
    seen = Counter(next_speakers(both_mute, [], "hi", settings(), rng)[0] for _ in range(200))
    assert set(seen) == {"Mute", "Still"}


def test_allow_repeat_and_a_single_character_may_repeat() -> None:
    eager, mute = Participant("Eager", talkativeness=1.0), Participant("Mute", talkativeness=0.0)
    rng = random.Random(0)
    assert next_speakers([eager, mute], ["Eager"], "hi", settings(), rng) == ["Mute"]
    assert next_speakers([eager, mute], ["Eager"], "hi", settings(allow_repeat=True), rng) == ["Eager"]
    for policy in ("natural", "round_robin", "auto"):
        assert [t for t in play([A], policy, 10)] == [["Mara"]] * 10


def test_same_seed_same_choices_different_seed_differs() -> None:
    chars = [A, B, C, Participant("Wren", talkativeness=0.3)]
    assert play(chars, "natural", 200, seed=11) == play(chars, "natural", 200, seed=11)
    assert play(chars, "natural", 200, seed=11) != play(chars, "natural", 200, seed=12)


def test_auto_gives_distinct_speakers_in_turn_order() -> None:
    rng = random.Random(0)
    chars = [*HUMANS, A, B, C]
    assert next_speakers(chars, ["Mara", "Sam"], "go on", settings("auto"), rng) == ["Vesper", "Quill"]
    assert next_speakers(chars, ["Mara"], "go on", settings("auto", auto_turns=5), rng) == ["Vesper", "Quill", "Mara"]
    assert next_speakers(chars, [], "Quill, you start", settings("auto", auto_turns=3), rng) == [
        "Quill",
        "Mara",
        "Vesper",
    ]
    assert next_speakers(chars, [], "go", settings("auto", auto_turns=1), rng) == ["Mara"]
    for who in play([A, B, C], "auto", 30):
        assert len(who) == 2 and len(set(who)) == 2


def test_narrator_speaks_only_when_named_or_alone() -> None:
    narrator = Participant("Narrator", "narrator")
    turns = play([A, B, narrator], "natural", 100)
    assert all("Narrator" not in t for t in turns)
    rng = random.Random(0)
    assert next_speakers([A, narrator], [], "narrator, set the scene", settings(), rng) == ["Narrator"]
    assert next_speakers([narrator], [], "hi", settings("round_robin"), rng) == ["Narrator"]
    assert next_speakers([A, B, narrator], ["Mara"], "Narrator?", settings("auto"), rng) == ["Narrator", "Vesper", ]


def test_humans_are_never_chosen_even_when_named() -> None:
    rng = random.Random(0)
    for _ in range(20):
        assert next_speakers([*HUMANS, A, B], ["Mara"], "Sam, your turn", settings(), rng) == ["Vesper"]


def test_last_ai_speaker_skips_humans_and_unknown_names() -> None:
    assert last_ai_speaker([*HUMANS, A, B], ["Mara", "Vesper", "Alex", "Ghost"]) == "Vesper"
    assert last_ai_speaker([*HUMANS, A], ["Alex", "Sam"]) is None


# -- safeword and OOC ------------------------------------------------------


@pytest.mark.parametrize("text", ["red", "RED!", " red. ", "Red?!", "'red'", "red\n", "((red))", "red 🛑", "\u200bred"])
def test_safeword_typed_alone(text: str) -> None:
    assert is_safeword(text, "red")


@pytest.mark.parametrize("text", ["red wine", "not red", "redd", "r e d", "", "   ", "I said red", "yellow"])
def test_not_the_safeword(text: str) -> None:
    assert not is_safeword(text, "red")


def test_custom_and_multi_word_safewords() -> None:
    assert is_safeword("Time   OUT!", "time out")
    assert not is_safeword("time", "time out")
    assert is_safeword("pineapple.", "Pineapple")
    assert not is_safeword("red", "")
    assert is_safeword("Yellow…", SceneSettings().slowword)


@pytest.mark.parametrize(
    ("text", "ooc", "stripped"),
    [
        ("(( brb, tea ))", True, "brb, tea"),
        ("  ((can we skip ahead?", True, "can we skip ahead?"),
        ("// laughing too hard", True, "laughing too hard"),
        ("OOC: pause a moment", True, "pause a moment"),
        ("(quietly) she nods", False, "(quietly) she nods"),
        ("Mara smiles. ((aside))", False, "Mara smiles. ((aside))"),
        ("cooc: no", False, "cooc: no"),
    ],
)
def test_out_of_character(text: str, ooc: bool, stripped: str) -> None:
    assert is_ooc(text) is ooc
    assert strip_ooc(text) == stripped


# -- boundaries and prompt helpers -----------------------------------------


def test_boundaries_empty_when_nobody_has_limits() -> None:
    assert boundaries_text([PersonaProfile("Alex"), PersonaProfile("Sam")]) == ""
    assert boundaries_text([]) == ""


def test_boundaries_union_deduplicated_with_owners() -> None:
    alex = PersonaProfile("Alex", hard_limits=("heights", "Loud arguments"), soft_limits=("jealousy", "spiders"))
    sam = PersonaProfile("Sam", hard_limits=("loud  arguments",), soft_limits=("Jealousy", "heights"))
    text = boundaries_text([alex, sam])
    lines = text.splitlines()
    hard_at = next(i for i, ln in enumerate(lines) if ln.startswith("Hard limits"))
    soft_at = next(i for i, ln in enumerate(lines) if ln.startswith("Soft limits"))
    assert "never" in lines[hard_at] and "ask" in lines[soft_at]
    assert lines[hard_at + 1 : soft_at] == ["- heights (Alex)", "- Loud arguments (Alex and Sam)"]
    # "heights" is hard for Alex, so it is not also listed as soft for Sam
    assert lines[soft_at + 1 :] == ["- jealousy (Alex and Sam)", "- spiders (Alex)"]
    assert text.lower().count("arguments") == 1


def test_boundaries_with_only_soft_limits_and_three_owners() -> None:
    people = [PersonaProfile(n, soft_limits=("rain",)) for n in ("Alex", "Sam", "Jo")]
    text = boundaries_text(people)
    assert "Hard limits" not in text
    assert text.endswith("- rain (Alex, Sam and Jo)")


def test_speaker_instruction_and_stop_names() -> None:
    assert speaker_instruction(" Mara  Vell ") == "Write the next reply only as Mara Vell."
    everyone = [*HUMANS, A, B, Participant("Narrator", "narrator")]
    assert stop_names(everyone, "mara") == ["Alex", "Sam", "Vesper", "Narrator"]
    assert stop_names(["Alex", "alex", "Mara", "Sam"], "Mara") == ["Alex", "Sam"]


# -- who is typing ---------------------------------------------------------


def test_next_persona_cycles_and_wraps() -> None:
    people = [PersonaProfile("Alex"), PersonaProfile("Sam"), "Jo"]
    assert next_persona(people, "Alex") == "Sam"
    assert next_persona(people, "sam") == "Jo"
    assert next_persona(people, "Jo") == "Alex"
    assert next_persona(people, "Stranger") == "Alex"
    assert next_persona(["Alex"], "Alex") == "Alex"
    with pytest.raises(SceneError, match="no personas"):
        next_persona([], "Alex")


def test_persona_by_number_counts_from_one() -> None:
    people = ["Alex", PersonaProfile("Sam")]
    assert persona_by_number(people, 1) == "Alex"
    assert persona_by_number(people, 2) == "Sam"
    for n in (0, 3, -1):
        with pytest.raises(SceneError, match=rf"no persona {n} \(this scene has 2\)"):
            persona_by_number(people, n)
