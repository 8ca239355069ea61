"""Tests for the normalized character card (tui.core.cards.card)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from tui.core.cards.card import (
    Card,
    CardError,
    card_to_json,
    card_to_v2,
    card_to_v3,
    load_card_file,
    parse_card,
    save_card_file,
    slugify,
    starter_cards,
)

STARTERS_DIR = Path(__file__).resolve().parents[3] / "tui" / "starters"


def v1_card() -> dict:
    return {
        "name": "Iris",
        "description": "{{char}} is a 41-year-old lighthouse keeper. She likes storms.",
        "personality": "calm",
        "scenario": "a stormy night",
        "first_mes": "The lamp turns.",
        "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hello.",
        "avatar": "iris.png",  # unknown V1 field
    }


def v2_card() -> dict:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Iris",
            "description": "A 41-year-old lighthouse keeper.",
            "personality": "calm",
            "scenario": "storm",
            "first_mes": "The lamp turns.",
            "mes_example": "",
            "creator_notes": "notes",
            "system_prompt": "Be Iris.",
            "post_history_instructions": "Stay brief.",
            "alternate_greetings": ["Hello again.", "Another night."],
            "character_book": {"entries": [{"keys": ["lamp"], "content": "Old lamp."}]},
            "tags": ["calm", "sea"],
            "creator": "someone",
            "character_version": "2.1",
            "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4, "prompt": "x"}},
            "mystery_field": {"nested": [1, 2, 3]},
        },
        "avatar": "none",
        "fav": False,
    }


def v3_card() -> dict:
    card = v2_card()
    card["spec"] = "chara_card_v3"
    card["spec_version"] = "3.0"
    card["data"].update(
        nickname="Izzy",
        group_only_greetings=["Hello, everyone."],
        assets=[{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        source=["https://example.invalid/iris"],
        creator_notes_multilingual={"fr": "notes en français"},
        creation_date=1700000000,
        modification_date=1700000500,
    )
    return card


# ---------------------------------------------------------------- parsing


def test_parse_v1_reads_flat_fields_and_keeps_unknown_ones():
    card = parse_card(v1_card())
    assert card.name == "Iris"
    assert card.scenario == "a stormy night"
    assert card.mes_example.startswith("<START>")
    assert card.extra == {"avatar": "iris.png"}
    assert card.tags == [] and card.extensions == {}


def test_parse_v2_reads_data_and_preserves_extensions_and_unknowns():
    card = parse_card(v2_card())
    assert card.system_prompt == "Be Iris."
    assert card.post_history_instructions == "Stay brief."
    assert card.alternate_greetings == ["Hello again.", "Another night."]
    assert card.character_version == "2.1"
    assert card.extensions["depth_prompt"] == {"depth": 4, "prompt": "x"}
    assert card.character_book == {"entries": [{"keys": ["lamp"], "content": "Old lamp."}]}
    assert card.extra == {"mystery_field": {"nested": [1, 2, 3]}}
    assert card.top_extra == {"avatar": "none", "fav": False}


def test_parse_v3_reads_v3_fields():
    card = parse_card(v3_card())
    assert card.nickname == "Izzy"
    assert card.display_name == "Izzy"
    assert card.group_only_greetings == ["Hello, everyone."]
    assert card.assets[0]["uri"] == "ccdefault:"
    assert card.source == ["https://example.invalid/iris"]
    assert card.creator_notes_multilingual == {"fr": "notes en français"}
    assert card.creation_date == 1700000000
    assert card.extra == {"mystery_field": {"nested": [1, 2, 3]}}


def test_parse_does_not_alias_the_input():
    raw = v2_card()
    card = parse_card(raw)
    card.extensions["depth_prompt"]["depth"] = 99
    assert raw["data"]["extensions"]["depth_prompt"]["depth"] == 4


def test_top_level_mirror_fields_fill_gaps_but_data_wins():
    raw = v2_card()
    raw["description"] = "stale top-level copy"
    raw["creatorcomment"] = "kept"
    del raw["data"]["scenario"]
    raw["scenario"] = "from the mirror"
    card = parse_card(raw)
    assert card.description == "A 41-year-old lighthouse keeper."
    assert card.scenario == "from the mirror"
    assert "description" not in card.top_extra
    assert card.top_extra["creatorcomment"] == "kept"


def test_lenient_values_are_normalized():
    card = parse_card(
        {"name": "  Iris \n Vale ", "character_version": 2, "tags": "sea, calm ,",
         "personality": None, "extensions": None}
    )
    assert card.name == "Iris Vale"
    assert card.character_version == "2"
    assert card.tags == ["sea", "calm"]
    assert card.personality == ""
    assert card.extensions == {}


def test_malformed_optional_v3_metadata_is_kept_in_extra():
    raw = v3_card()
    raw["data"]["creation_date"] = "last tuesday"
    card = parse_card(raw)
    assert card.creation_date is None
    assert card.extra["creation_date"] == "last tuesday"
    again = parse_card(card_to_v3(card))
    assert again == card
    assert card_to_v3(card)["data"]["creation_date"] == "last tuesday"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"description": "no name"}, "<card>: the card has no name"),
        ({"name": "   "}, "<card>: the card has no name"),
        ({"name": 5}, "<card>: field 'name' must be text, got a number"),
        ({"name": "A", "tags": [1, None]}, "<card>: field 'tags' must be a list of text, found null in it"),
        ({"name": "A", "alternate_greetings": {"a": 1}},
         "<card>: field 'alternate_greetings' must be a list of text, got an object"),
        ({"name": "A", "description": ["x"]}, "<card>: field 'description' must be text, got a list"),
        ({"name": "A", "extensions": []}, "<card>: field 'extensions' must be an object, got a list"),
        ({"spec": "chara_card_v2", "data": "x"}, "<card>: field 'data' must be an object, got text"),
        ({"spec": "chara_card_v9", "data": {"name": "A"}},
         "<card>: unsupported card format 'chara_card_v9' (expected V1, chara_card_v2 or chara_card_v3)"),
        ({"spec": "chara_card_v3", "data": {"name": ""}}, "<card>: the card has no name"),
    ],
)
def test_parse_errors_are_one_clear_line(raw, message):
    with pytest.raises(CardError) as info:
        parse_card(raw)
    assert str(info.value) == message


def test_parse_error_names_the_source():
    with pytest.raises(CardError, match=r"^cards/x\.json: the card has no name$"):
        parse_card({}, source="cards/x.json")


def test_envelope_without_spec_is_read_like_v2():
    card = parse_card({"data": {"name": "Iris", "first_mes": "Hi."}})
    assert card.name == "Iris" and card.first_mes == "Hi."


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("factory", [v1_card, v2_card, v3_card])
def test_v3_round_trip_is_lossless(factory):
    card = parse_card(factory())
    out = card_to_v3(card)
    assert out["spec"] == "chara_card_v3" and out["spec_version"] == "3.0"
    assert parse_card(out) == card
    # and through real JSON text
    assert parse_card(json.loads(json.dumps(out))) == card


def test_v3_output_carries_unknowns_and_extensions():
    out = card_to_v3(parse_card(v2_card()))
    assert out["data"]["mystery_field"] == {"nested": [1, 2, 3]}
    assert out["data"]["extensions"]["talkativeness"] == "0.5"
    assert out["data"]["group_only_greetings"] == []
    assert out["avatar"] == "none" and out["fav"] is False


def test_v2_to_v3_to_v2_keeps_every_v2_field():
    original = v2_card()
    back = card_to_v2(parse_card(card_to_v3(parse_card(original))))
    assert back["spec"] == "chara_card_v2" and back["spec_version"] == "2.0"
    for key, value in original["data"].items():
        assert back["data"][key] == value, key
    assert back["avatar"] == "none" and back["fav"] is False
    # nothing V3-only was invented
    assert "group_only_greetings" not in back["data"]
    assert "nickname" not in back["data"]


def test_v3_survives_a_trip_through_v2():
    card = parse_card(v3_card())
    assert parse_card(card_to_v2(card)) == card


def test_known_fields_win_over_extra_on_output():
    card = Card(name="Real", extra={"name": "Impostor", "other": 1})
    out = card_to_v3(card)["data"]
    assert out["name"] == "Real" and out["other"] == 1


def test_output_does_not_alias_the_card():
    card = parse_card(v2_card())
    out = card_to_v3(card)
    out["data"]["extensions"]["talkativeness"] = "changed"
    out["data"]["mystery_field"]["nested"].append(4)
    assert card.extensions["talkativeness"] == "0.5"
    assert card.extra["mystery_field"]["nested"] == [1, 2, 3]


# ---------------------------------------------------------------- Card helpers


def test_display_name_falls_back_to_name():
    assert Card(name="Iris").display_name == "Iris"
    assert Card(name="Iris Vale", nickname="Iris").display_name == "Iris"


def test_short_description_takes_first_sentence_and_expands_char():
    card = Card(name="Iris", description="\n  {{char}} keeps the light.  She hates fog.\nMore.")
    assert card.short_description() == "Iris keeps the light."


def test_short_description_trims_long_text_at_a_word():
    card = Card(name="I", description="word " * 40)
    short = card.short_description(30)
    assert len(short) <= 30
    assert short.endswith("…")
    assert short == "word word word word word…"


def test_short_description_of_empty_description_is_empty():
    assert Card(name="I").short_description() == ""


# ---------------------------------------------------------------- files


def test_load_card_file_reads_v2(tmp_path):
    path = tmp_path / "iris.json"
    path.write_text(json.dumps(v2_card()), encoding="utf-8")
    assert load_card_file(path) == parse_card(v2_card())


def test_load_card_file_accepts_utf8_bom(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "Iris"}).encode())
    assert load_card_file(path).name == "Iris"


def _load_error(path: Path) -> str:
    with pytest.raises(CardError) as info:
        load_card_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_json_is_reported_with_file_and_position(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"name": "Iris",\n  oops}', encoding="utf-8")
    message = _load_error(path)
    assert message.startswith(f"{path}: not valid JSON (line 2, column 3")


def test_list_instead_of_object(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, 2]", encoding="utf-8")
    assert _load_error(path) == f"{path}: expected a JSON object, got a list"


def test_missing_name(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"description": "nobody"}', encoding="utf-8")
    assert _load_error(path) == f"{path}: the card has no name"


def test_name_not_a_string(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"spec": "chara_card_v2", "data": {"name": ["Iris"]}}', encoding="utf-8")
    assert _load_error(path) == f"{path}: field 'name' must be text, got a list"


def test_missing_file_and_non_utf8(tmp_path):
    assert _load_error(tmp_path / "nope.json") == f"{tmp_path / 'nope.json'}: file not found"
    bad = tmp_path / "latin.json"
    bad.write_bytes(b'{"name": "\xe9"}')
    assert _load_error(bad) == f"{bad}: not a UTF-8 text file"
    assert "cannot read" in _load_error(tmp_path)  # a folder


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.json"
    obj = card_to_v3(Card(name="Iris"))
    obj["version"] = 2
    path.write_text(json.dumps(obj), encoding="utf-8")
    assert "newer Candlelit" in _load_error(path)


def test_save_writes_private_v3_with_version(tmp_path):
    card = parse_card(v3_card())
    path = tmp_path / "cards" / "iris.json"
    save_card_file(path, card)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    obj = json.loads(text)
    assert obj["version"] == 1
    assert obj["spec"] == "chara_card_v3" and obj["spec_version"] == "3.0"
    assert obj["data"]["mystery_field"] == {"nested": [1, 2, 3]}
    assert text.startswith('{\n  "spec"')  # indent=2
    assert "notes en français" in text  # written as real UTF-8
    loaded = load_card_file(path)
    assert loaded == card
    assert "version" not in loaded.top_extra


def test_save_overwrites_and_stays_private(tmp_path):
    path = tmp_path / "iris.json"
    save_card_file(path, Card(name="Iris"))
    save_card_file(path, Card(name="Iris", first_mes="Second."))
    assert load_card_file(path).first_mes == "Second."
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["iris.json"]


# ---------------------------------------------------------------- slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Mara Ellison", "mara-ellison"),
        ("  The   Narrator!! ", "the-narrator"),
        ("Élodie Ça-Va", "elodie-ca-va"),
        ("R2-D2 & friends", "r2-d2-friends"),
        ("---", "character"),
        ("", "character"),
        ("夜", "character"),
        ("a" * 39 + " b", "a" * 39),  # cut at 40 must not leave a trailing '-'
        ("x" * 100, "x" * 40),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slugify(name))


# ---------------------------------------------------------------- starters


def test_three_distinct_starters_load():
    starters = starter_cards()
    slugs = [slug for slug, _ in starters]
    assert len(starters) == 3
    assert slugs == sorted(slugs)
    assert slugs == sorted(p.stem for p in STARTERS_DIR.glob("*.json"))
    cards = [card for _, card in starters]
    assert len({c.name for c in cards}) == 3
    assert len({c.description for c in cards}) == 3
    assert len({c.first_mes for c in cards}) == 3
    for slug, card in starters:
        assert slug == slugify(slug)
        assert card.description.strip() and card.first_mes.strip()
        assert card.creator == "Candlelit" and card.character_version == "1.0"
        assert card.tags
        assert "{{user}}" in card.mes_example and "{{char}}" in card.mes_example
        assert card.mes_example.startswith("<START>\n{{user}}: ")


def test_starters_are_adults():
    for slug, card in starter_cards():
        ages = [int(a) for a in re.findall(r"\b(\d{2})-year-old\b", card.description)]
        says_adult = re.search(r"\badults?\b", card.description, re.IGNORECASE)
        assert (ages and min(ages) >= 18) or says_adult, slug


def test_starters_cover_companion_rival_and_narrator():
    by_tag = {tag: card for _, card in starter_cards() for tag in card.tags}
    assert {"companion", "rival", "narrator"} <= set(by_tag)
    narrator = by_tag["narrator"]
    assert "never speaks or acts for {{user}}" in narrator.creator_notes
    assert "never speaks, thinks or acts for {{user}}" in narrator.description


def test_starter_files_are_in_canonical_saved_form():
    for path in STARTERS_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert card_to_json(load_card_file(path)) == text, path.name
