"""The content guard: cards that describe a minor are refused with a reason."""

from __future__ import annotations

import json

import pytest

from tui.core.cards import library as ch
from tui.core.cards.adult_guard import (
    WHY_AGE,
    WHY_MINOR,
    ContentRefused,
    GuardReason,
    check_card,
    check_text,
    guard_card,
    refusal_message,
)
from tui.core.cards.card import Card, starter_cards
from tui.core.storage.store import Store

REFUSED = [
    # explicit ages
    ("She is 16 years old.", "16 years old", WHY_AGE),
    ("{{char}} is a 16-year-old runaway.", "16-year-old", WHY_AGE),
    ("A sixteen-year-old apprentice.", "sixteen-year-old", WHY_AGE),
    ("Age: 15", "Age: 15", WHY_AGE),
    ("Name: Kit. Age - 14. Likes: cats.", "Age - 14", WHY_AGE),
    ("A boy aged 12.", "aged 12", WHY_AGE),
    ("She is 15 yo and shy.", "15 yo", WHY_AGE),
    ("17yo, loves music", "17yo", WHY_AGE),
    ("{{char}} is fifteen.", "{{char}} is fifteen", WHY_AGE),
    ("I'm 14, okay?", "I'm 14", WHY_AGE),
    ("She's 13.", "She's 13", WHY_AGE),
    ("Mara is 15, and loves books.", "Mara is 15", WHY_AGE),
    ("He was a 15-year-old stowaway on the ship.", "15-year-old", WHY_AGE),
    ("She is 16 years of age.", "16 years of age", WHY_AGE),
    ("Mara (16) runs the shop.", "Mara (16)", WHY_AGE),
    ("Name: Mara\nAge: 13\nGender: female", "Age: 13", WHY_AGE),
    # words describing a minor
    ("She is a child.", "is a child", WHY_MINOR),
    ("{{char}} is just a kid who loves games.", "is just a kid", WHY_MINOR),
    ("She's only a child", "'s only a child", WHY_MINOR),
    ("He is a teenager.", "is a teenager", WHY_MINOR),
    ("She is a shy teen who", "is a shy teen", WHY_MINOR),
    ("{{char}} is a minor.", "is a minor", WHY_MINOR),
    ("She is a little girl.", "is a little girl", WHY_MINOR),
    ("A quiet schoolgirl with a red scarf.", "schoolgirl", WHY_MINOR),
    ("She is a high school student.", "high school student", WHY_MINOR),
    ("She attends middle school.", "attends middle school", WHY_MINOR),
    ("She's in middle school.", "'s in middle school", WHY_MINOR),
    ("She is a freshman in high school.", "freshman in high school", WHY_MINOR),
    ("He is in 8th grade.", "is in 8th grade", WHY_MINOR),
    ("A seventh-grader with big glasses.", "seventh-grader", WHY_MINOR),
    ("She is still in her early teens.", "is still in her early teens", WHY_MINOR),
    ("A teenage girl from the village.", "teenage girl", WHY_MINOR),
    ("underage", "underage", WHY_MINOR),
    ("loli", "loli", WHY_MINOR),
    ("shota", "shota", WHY_MINOR),
    ("She is a preteen.", "is a preteen", WHY_MINOR),
]

ACCEPTED = [
    "She misses her child.",
    "She talks about her childhood a lot.",
    "She sells kids' books.",
    "She is a teacher at a high school.",
    "She teaches high school students maths.",
    "She has a 12-year-old daughter.",
    "Her son is a teenager.",
    "When she was 16 years old, she left home.",
    "She was 12 years old when the war began.",
    "At age 9 she moved to the city.",
    "In high school she was the captain of the chess club.",
    "She remembers her schoolgirl days.",
    "She is not a minor.",
    "She is a minor noble of a fading house.",
    "She is a minor deity.",
    "She is a kid at heart.",
    "She is an only child.",
    "She is the middle child of three.",
    "She's the new kid at the office.",
    "He is a child psychologist.",
    "She is a child of the forest.",
    "She is kind to every child she meets.",
    "She is proud of her kid.",
    "She works with kids at the library.",
    "The house is 12 years old.",
    "She pours a 12-year-old whisky.",
    "She is 34 years old.",
    "A twenty-one-year-old courier.",
    "A 3,000-year-old dragon.",
    "She is one of the best.",
    "He is 6 feet tall.",
    "She is 17 minutes late.",
    "She is 12th in line to the throne.",
    "Age: 25",
    "Mara (34) runs the shop.",
    "She is a 25-year-old college student.",
    "She is a mother to three children.",
    "She's a former child actress.",
    "Her younger sister is a high school student.",
    "She is a teacher at Hillside Middle School.",
    "She was orphaned at age 6.",
    "Her 16-year-old brother Tom lives with her.",
    "She coaches the junior squad.",
    "She blushes like a schoolgirl crush was nothing.",
]


@pytest.mark.parametrize(("text", "phrase", "why"), REFUSED)
def test_refused_text(text, phrase, why):
    hits = check_text(text, ("Mara",))
    assert (phrase, why) in hits, hits


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_text(text):
    assert check_text(text, ("Mara",)) == []


def test_the_starters_pass():
    starters = starter_cards()
    assert len(starters) == 3
    for slug, card in starters:
        assert check_card(card) == [], slug


def test_reasons_name_the_field_and_phrase():
    card = Card(
        name="Kit",
        description="Kit is a bright, curious courier.",
        alternate_greetings=["Hello!", "Kit is 15, and bored."],
        tags=["Adventure", "Loli"],
    )
    reasons = check_card(card)
    assert GuardReason("alternate_greetings #2", "Kit is 15", WHY_AGE) in reasons
    assert GuardReason("tags", "Loli", WHY_MINOR) in reasons
    assert len(reasons) == 2


def test_each_checked_field_is_read():
    for key in ("description", "personality", "scenario", "first_mes", "mes_example"):
        card = Card(name="Wren", **{key: "She is 14 years old."})
        assert [r.field for r in check_card(card)] == [key]
    assert [r.field for r in check_card(Card(name="Loli Wren"))] == ["name"]
    assert [r.field for r in check_card(Card(name="Wren", group_only_greetings=["I'm 12."]))] == [
        "group_only_greetings #1"
    ]
    # notes are not read (and say so in the module's documentation)
    assert check_card(Card(name="Wren", creator_notes="Not suitable for minors.")) == []


def test_refusal_message_is_one_line_with_field_phrase_and_fix():
    reasons = [GuardReason("description", "16-year-old", WHY_AGE)] + [
        GuardReason(f"alternate_greetings #{i}", "a child", WHY_MINOR) for i in range(1, 5)
    ]
    msg = refusal_message("kit.png", reasons)
    assert "\n" not in msg and msg.startswith("kit.png: refused")
    assert 'description: "16-year-old" (states an age under 18)' in msg
    assert "and 2 more" in msg
    assert "edit those words in the file and import it again" in msg
    assert "adult" in msg


def test_guard_card_raises_with_reasons():
    with pytest.raises(ContentRefused) as err:
        guard_card(Card(name="Kit", description="Kit is a teenager."), "kit.json")
    assert err.value.reasons == [GuardReason("description", "is a teenager", WHY_MINOR)]
    assert str(err.value).startswith("kit.json: refused")
    guard_card(Card(name="Ada", description="Ada is a 30-year-old pilot."), "ada.json")  # no error


def test_import_refuses_and_a_corrected_card_then_imports(tmp_path):
    store = Store(tmp_path / "profile")
    path = tmp_path / "kit.json"
    path.write_text(json.dumps({"name": "Kit", "description": "Kit is a 16-year-old courier."}))
    with pytest.raises(ContentRefused, match='description: "16-year-old"'):
        ch.import_card_file(store, path)
    assert not store.characters_dir.exists() or list(store.characters_dir.iterdir()) == []
    path.write_text(json.dumps({"name": "Kit", "description": "Kit is a 26-year-old courier."}))
    assert ch.import_card_file(store, path).slug == "kit"


def test_known_misfire_is_documented_behaviour():
    # keyword checks misfire; this one is accepted (and the user can reword the card)
    assert check_text("He is a teen idol turned actor, now 31.") == [("is a teen", WHY_MINOR)]


def test_unicode_punctuation_is_understood():
    assert check_text("She is a 16\u2011year\u2011old runaway.") == [("16\u2011year\u2011old", WHY_AGE)]
    assert check_text("She\u2019s 13.") == [("She\u2019s 13", WHY_AGE)]


def test_long_text_is_checked_quickly():
    import time

    text = ("She is a 30-year-old pilot who is kind to every child. " * 20000)[:1_000_000]
    start = time.perf_counter()
    assert check_text(text) == []
    assert time.perf_counter() - start < 5
