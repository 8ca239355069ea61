"""Card JSON (tui.core.cards.card_json): V1/V2/V3 and our own, limits, one clear line per problem."""

from __future__ import annotations

import json

import pytest
from card_builders import v2_card, v3_card, write

from tui.core.cards.card import parse_card
from tui.core.cards.card_json import MAX_FIELD_CHARS, card_to_json_bytes
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_bytes, read_card_file

# --------------------------------------------------------------------------
# JSON


def test_v1_json_is_read(tmp_path):
    p = write(tmp_path, "v1.json", json.dumps({"name": "Iris", "description": "A keeper.", "avatar": "x.png"}).encode())
    loaded, raw = read_card_file(p)
    assert loaded.fmt == "json" and loaded.avatar is None
    assert loaded.card.name == "Iris" and loaded.card.description == "A keeper."
    assert loaded.card.extra == {"avatar": "x.png"}
    assert raw == p.read_bytes()


def test_v2_json_round_trips_unknown_fields_and_extensions(tmp_path):
    loaded, _ = read_card_file(write(tmp_path, "v2.json", json.dumps(v2_card()).encode()))
    out = json.loads(card_to_json_bytes(loaded.card))
    assert out["spec"] == "chara_card_v3"
    assert out["data"]["extensions"] == v2_card()["data"]["extensions"]
    assert out["data"]["mystery_field"] == {"nested": [1, 2, 3]}
    assert out["top_level_unknown"] is True
    again = read_card_bytes(card_to_json_bytes(loaded.card), "again.json").card
    assert again == loaded.card


def test_v3_json_round_trips_exactly(tmp_path):
    src = v3_card()
    loaded, _ = read_card_file(write(tmp_path, "v3.json", json.dumps(src).encode()))
    card = loaded.card
    assert card.nickname == "Ris" and card.group_only_greetings == ["Hello, everyone."]
    assert card.source == ["https://example.org/iris"] and card.creation_date == 1700000000
    assert card.character_book["entries"][0]["use_regex"] is False
    assert json.loads(card_to_json_bytes(card)) == src


def test_our_own_stored_card_json_is_read(tmp_path):
    from tui.core.cards.card import card_to_json

    card = parse_card(v3_card())
    loaded = read_card_bytes(card_to_json(card).encode(), "card.json")
    assert loaded.card == card


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b'{"name": "Iris",', "not valid JSON (line 1"),
        (b"[1, 2]", "expected a JSON object, got a list"),
        (b'{"description": "no name"}', "has no name"),
        (b'{"name": 5}', "field 'name' must be text"),
        (b'{"name": "Iris", "alternate_greetings": 5}', "field 'alternate_greetings' must be a list"),
        (b'{"spec": "chara_card_v2", "data": "nope"}', "field 'data' must be an object"),
        (b'{"name": "Iris", "x": NaN}', "NaN is not allowed"),
        (b'{"name": "Iris", "x": 1e999}', "out of range"),
        (b'{"name": "Iris", "x": ' + b"9" * 5000 + b"}", "not valid card JSON"),
        (b'{"name": "Iris\\ud800"}', "lone surrogate"),
        (b'{"name": "Iris", "d": "caf\xe9"}', "not valid UTF-8 text (bad byte at offset 26)"),
        (b"   \n", "the file is empty"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "a JPEG image"),
        (b'{"name": "Iris", "x": ' + b"[" * 70 + b"]" * 70 + b"}", "nested too deeply"),
        (b'{"name": "Iris", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}", "nested too deeply"),
    ],
)
def test_bad_json_gives_one_clear_line(tmp_path, data, needle):
    p = write(tmp_path, "bad.json", data)
    with pytest.raises(CardFileError) as err:
        read_card_file(p)
    msg = str(err.value)
    assert msg.startswith(str(p) + ": ") and needle in msg and "\n" not in msg


def test_huge_fields_are_refused():
    big = {"name": "Iris", "description": "x" * (MAX_FIELD_CHARS + 1)}
    with pytest.raises(CardFileError, match=r"field 'description' is too long \(1,000,001 characters"):
        read_card_bytes(json.dumps(big).encode(), "big.json")
    greeting = {"name": "Iris", "alternate_greetings": ["ok", "y" * (MAX_FIELD_CHARS + 1)]}
    with pytest.raises(CardFileError, match="item 2 of 'alternate_greetings' is too long"):
        read_card_bytes(json.dumps(greeting).encode(), "big.json")
    with pytest.raises(CardFileError, match="the name is too long"):
        read_card_bytes(json.dumps({"name": "n" * 2000}).encode(), "big.json")
    at_limit = {"name": "Iris", "description": "x" * MAX_FIELD_CHARS}
    assert len(read_card_bytes(json.dumps(at_limit).encode(), "ok.json").card.description) == MAX_FIELD_CHARS


def test_newer_spec_version_imports_with_a_warning():
    card = v3_card()
    card["spec_version"] = "3.5"
    loaded = read_card_bytes(json.dumps(card).encode(), "new.json")
    assert loaded.card.name == "Iris"
    assert any("newer card spec (3.5)" in w for w in loaded.warnings)
