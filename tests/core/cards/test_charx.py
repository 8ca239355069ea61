"""CHARX cards (tui.core.cards.charx): icons, assets, zip-bomb limits, export."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest
from card_builders import charx_with_icon, make_zip, tiny_png, v2_card, v3_card, write

from tui.core.cards import charx
from tui.core.cards.card import parse_card
from tui.core.cards.charx import card_to_charx, charx_entries
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_bytes, read_card_file

# --------------------------------------------------------------------------
# CHARX


def test_charx_is_read_with_the_icon_as_avatar():
    icon = tiny_png(rgb=b"\x99\x11\x11")
    loaded = read_card_bytes(charx_with_icon(icon=icon), "iris.charx")
    assert loaded.fmt == "charx" and loaded.card.name == "Iris"
    assert loaded.avatar == icon and loaded.avatar_ext == "png"
    assert loaded.card.extensions == v3_card()["data"]["extensions"]


def test_charx_icon_without_assets_list_is_found_by_folder():
    data = make_zip({"card.json": json.dumps(v2_card()).encode(), "assets/icon/images/a.png": tiny_png()})
    assert read_card_bytes(data, "x.charx").avatar == tiny_png()


def test_charx_missing_icon_is_a_warning_not_an_error():
    card = v3_card()
    card["data"]["assets"] = [{"type": "icon", "uri": "embeded://assets/icon/gone.png", "name": "main", "ext": "png"}]
    loaded = read_card_bytes(make_zip({"card.json": json.dumps(card).encode()}), "x.charx")
    assert loaded.avatar is None and "missing from the CHARX" in loaded.warnings[0]


def test_charx_round_trip_keeps_card_icon_and_other_assets():
    src = charx_with_icon()
    loaded = read_card_bytes(src, "in.charx")
    out = card_to_charx(loaded.card, loaded.avatar, "png", charx_entries(src))
    back = read_card_bytes(out, "out.charx")
    assert back.card == loaded.card and back.avatar == loaded.avatar
    names = set(zipfile.ZipFile(io.BytesIO(out)).namelist())
    assert names == {"card.json", "assets/icon/images/main.png", "assets/background/images/sky.png", "x_app.json"}
    assert card_to_charx(loaded.card, loaded.avatar, "png", charx_entries(src)) == out  # deterministic


def test_charx_export_of_a_card_without_icon_asset_adds_one():
    card = parse_card(v3_card())  # main icon is "ccdefault:"
    out = card_to_charx(card, tiny_png(), "png")
    zf = zipfile.ZipFile(io.BytesIO(out))
    stored = json.loads(zf.read("card.json"))
    assert stored["data"]["assets"] == [
        {"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"}
    ]
    assert zf.read("assets/icon/images/main.png") == tiny_png()
    assert stored["data"]["unknown_v3_field"] == ["kept"] and stored["beside_data"] == {"kept": 1}
    assert card.assets[0]["uri"] == "ccdefault:"  # the caller's card is untouched


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (make_zip({"other.json": b"{}"}), "no card.json at the root of the CHARX"),
        (make_zip({"dir/card.json": json.dumps(v2_card()).encode()}), "no card.json at the root"),
        (make_zip({"card.json": b"{oops"}), "not valid JSON"),
        (make_zip({"card.json": b"\xff\xfe"}), "card.json is not valid UTF-8"),
        (charx_with_icon()[:200], "the CHARX (zip) file is corrupt"),
        (b"PK\x03\x04" + b"\x00" * 50, "the CHARX (zip) file is corrupt"),
    ],
)
def test_bad_charx_gives_one_clear_line(data, needle):
    with pytest.raises(CardFileError) as err:
        read_card_bytes(data, "bad.charx")
    assert str(err.value).startswith("bad.charx: ") and needle in str(err.value)


def test_charx_with_a_corrupt_entry_is_refused():
    data = bytearray(make_zip({"card.json": json.dumps(v2_card()).encode() * 1}, zipfile.ZIP_STORED))
    i = data.index(b"lighthouse")
    data[i] ^= 0x20  # change stored bytes: CRC no longer matches
    with pytest.raises(CardFileError, match="the CHARX \\(zip\\) file is corrupt"):
        read_card_bytes(bytes(data), "crc.charx")


def test_zip_bomb_is_refused():
    bomb = make_zip({"card.json": json.dumps(v2_card()).encode(), "assets/other/pad.bin": b"\x00" * (30 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(CardFileError, match="refused as a likely zip bomb \\('assets/other/pad.bin'"):
        read_card_bytes(bomb, "bomb.charx")


def test_zip_entry_whose_header_understates_its_size_is_refused():
    big = json.dumps({"name": "Iris", "description": "x" * 5_000_000}).encode()
    data = bytearray(make_zip({"card.json": big}))
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", 1000)  # claims 1000 bytes unpacked
    local = data.index(b"PK\x03\x04")
    data[local + 22:local + 26] = struct.pack("<I", 1000)
    with pytest.raises(CardFileError) as err:
        read_card_bytes(bytes(data), "liar.charx")
    assert str(err.value).startswith("liar.charx: ")


def test_card_json_over_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(charx, "MAX_JSON_BYTES", 4096)
    big = json.dumps({"name": "Iris", "description": "x" * 100_000}).encode()
    with pytest.raises(CardFileError, match="'card.json' in the CHARX is too large"):
        read_card_bytes(make_zip({"card.json": big}), "big.charx")


def test_too_many_zip_entries(monkeypatch):
    monkeypatch.setattr(charx, "MAX_ZIP_ENTRIES", 3)
    data = make_zip({"card.json": b"{}", **{f"assets/other/{i}": b"x" for i in range(5)}})
    with pytest.raises(CardFileError, match="too many files"):
        read_card_bytes(data, "many.charx")


def test_not_a_zip_with_charx_name(tmp_path):
    with pytest.raises(CardFileError, match="not a CHARX file"):
        read_card_file(write(tmp_path, "x.charx", b"hello"))
