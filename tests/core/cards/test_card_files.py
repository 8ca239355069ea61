"""Card files (JSON, PNG, CHARX) and importing them into a profile."""

from __future__ import annotations

import base64
import io
import json
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from tui.core.cards import files as cf
from tui.core.cards import library as ch
from tui.core.cards.files import CardFileError, read_card_bytes, read_card_file
from tui.core.cards.card import CardError, card_to_v3, parse_card
from tui.core.storage.store import Store

# --------------------------------------------------------------------------
# builders (independent of the code under test)


def png_chunk(ctype: bytes, data: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = zlib.crc32(ctype + data)
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def tiny_png(extra: list[bytes] = (), rgb: bytes = b"\x10\x80\xf0") -> bytes:
    """A 2x2 RGB PNG with ``extra`` chunks before IEND."""
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    raw = (b"\x00" + rgb * 2) * 2
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + b"".join(extra)
        + png_chunk(b"IEND", b"")
    )


def text_chunk(keyword: str, payload: bytes) -> bytes:
    return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + payload)


def b64json(obj) -> bytes:
    return base64.b64encode(json.dumps(obj).encode("utf-8"))


def chunk_types(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, keyword-or-empty) of every chunk, parsed by hand."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        out.append((ctype, body.split(b"\x00")[0] if ctype == b"tEXt" else b""))
        pos += 12 + length
    return out


def text_payload(data: bytes, keyword: bytes) -> bytes:
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        body = data[pos + 8:pos + 8 + length]
        if data[pos + 4:pos + 8] == b"tEXt" and body.split(b"\x00")[0] == keyword:
            return body.split(b"\x00", 1)[1]
        pos += 12 + length
    raise AssertionError(f"no {keyword!r} chunk")


def make_zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def v2_card(name: str = "Iris") -> dict:
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": name,
            "description": "{{char}} is a 41-year-old lighthouse keeper.",
            "personality": "calm",
            "scenario": "a stormy night",
            "first_mes": "The lamp turns.",
            "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hello.",
            "creator_notes": "notes",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": ["Hello again."],
            "tags": ["calm", "sea"],
            "creator": "someone",
            "character_version": "2.1",
            "extensions": {"talkativeness": "0.5", "depth_prompt": {"depth": 4, "prompt": "x"}},
            "mystery_field": {"nested": [1, 2, 3]},
        },
        "top_level_unknown": True,
    }


def v3_card(name: str = "Iris") -> dict:
    return {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": name,
            "description": "{{char}} is a 41-year-old lighthouse keeper.",
            "personality": "calm",
            "scenario": "a stormy night",
            "first_mes": "The lamp turns.",
            "mes_example": "",
            "creator_notes": "notes",
            "system_prompt": "Be Iris.",
            "post_history_instructions": "Stay brief.",
            "alternate_greetings": ["Hello again."],
            "tags": ["calm"],
            "creator": "someone",
            "character_version": "3",
            "extensions": {"x_app": {"theme": "dark"}, "fav": True},
            "character_book": {
                "entries": [{"keys": ["lamp"], "content": "Old lamp.", "use_regex": False,
                             "extensions": {}, "enabled": True, "insertion_order": 0}],
                "extensions": {},
            },
            "group_only_greetings": ["Hello, everyone."],
            "nickname": "Ris",
            "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
            "source": ["https://example.org/iris"],
            "creator_notes_multilingual": {"en": "notes", "fr": "notes fr"},
            "creation_date": 1700000000,
            "modification_date": 1700000500,
            "unknown_v3_field": ["kept"],
        },
        "beside_data": {"kept": 1},
    }


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


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
    out = json.loads(cf.card_to_json_bytes(loaded.card))
    assert out["spec"] == "chara_card_v3"
    assert out["data"]["extensions"] == v2_card()["data"]["extensions"]
    assert out["data"]["mystery_field"] == {"nested": [1, 2, 3]}
    assert out["top_level_unknown"] is True
    again = read_card_bytes(cf.card_to_json_bytes(loaded.card), "again.json").card
    assert again == loaded.card


def test_v3_json_round_trips_exactly(tmp_path):
    src = v3_card()
    loaded, _ = read_card_file(write(tmp_path, "v3.json", json.dumps(src).encode()))
    card = loaded.card
    assert card.nickname == "Ris" and card.group_only_greetings == ["Hello, everyone."]
    assert card.source == ["https://example.org/iris"] and card.creation_date == 1700000000
    assert card.character_book["entries"][0]["use_regex"] is False
    assert json.loads(cf.card_to_json_bytes(card)) == src


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
    big = {"name": "Iris", "description": "x" * (cf.MAX_FIELD_CHARS + 1)}
    with pytest.raises(CardFileError, match=r"field 'description' is too long \(1,000,001 characters"):
        read_card_bytes(json.dumps(big).encode(), "big.json")
    greeting = {"name": "Iris", "alternate_greetings": ["ok", "y" * (cf.MAX_FIELD_CHARS + 1)]}
    with pytest.raises(CardFileError, match="item 2 of 'alternate_greetings' is too long"):
        read_card_bytes(json.dumps(greeting).encode(), "big.json")
    with pytest.raises(CardFileError, match="the name is too long"):
        read_card_bytes(json.dumps({"name": "n" * 2000}).encode(), "big.json")
    at_limit = {"name": "Iris", "description": "x" * cf.MAX_FIELD_CHARS}
    assert len(read_card_bytes(json.dumps(at_limit).encode(), "ok.json").card.description) == cf.MAX_FIELD_CHARS


def test_too_large_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(cf, "MAX_FILE_BYTES", 1000)
    p = write(tmp_path, "big.json", json.dumps({"name": "Iris", "description": "x" * 2000}).encode())
    with pytest.raises(CardFileError, match="file too large"):
        read_card_file(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CardFileError, match="file not found"):
        read_card_file(tmp_path / "nope.png")
    with pytest.raises(CardFileError, match="is a folder"):
        read_card_file(tmp_path)


def test_newer_spec_version_imports_with_a_warning():
    card = v3_card()
    card["spec_version"] = "3.5"
    loaded = read_card_bytes(json.dumps(card).encode(), "new.json")
    assert loaded.card.name == "Iris"
    assert any("newer card spec (3.5)" in w for w in loaded.warnings)


# --------------------------------------------------------------------------
# PNG


def test_png_with_chara_only_and_avatar_is_stripped_of_the_card():
    png = tiny_png([text_chunk("Comment", b"hello"), text_chunk("chara", b64json(v2_card()))])
    loaded = read_card_bytes(png, "iris.png")
    assert loaded.fmt == "png" and loaded.card.name == "Iris"
    assert loaded.card.extensions["depth_prompt"] == {"depth": 4, "prompt": "x"}
    assert loaded.avatar_ext == "png"
    kinds = chunk_types(loaded.avatar)
    assert (b"tEXt", b"Comment") in kinds and (b"tEXt", b"chara") not in kinds
    assert loaded.avatar == tiny_png([text_chunk("Comment", b"hello")])


@pytest.mark.parametrize("ccv3_first", [True, False])
def test_png_with_both_chunks_prefers_ccv3(ccv3_first):
    old = text_chunk("chara", b64json(v2_card("Old Name")))
    new = text_chunk("ccv3", b64json(v3_card("New Name")))
    png = tiny_png([new, old] if ccv3_first else [old, new])
    loaded = read_card_bytes(png, "both.png")
    assert loaded.card.name == "New Name" and loaded.card.nickname == "Ris"
    assert loaded.warnings == []


def test_png_ccv3_garbage_falls_back_to_chara_with_a_warning():
    png = tiny_png([text_chunk("ccv3", b"!!!not base64!!!"), text_chunk("chara", b64json(v2_card()))])
    loaded = read_card_bytes(png, "x.png")
    assert loaded.card.name == "Iris"
    assert len(loaded.warnings) == 1 and "'ccv3' chunk is not valid base64" in loaded.warnings[0]


def test_png_ztxt_and_itxt_chunks_are_read():
    payload = b64json(v3_card("Zed"))
    ztxt = png_chunk(b"zTXt", b"ccv3\x00\x00" + zlib.compress(payload))
    assert read_card_bytes(tiny_png([ztxt]), "z.png").card.name == "Zed"
    itxt = png_chunk(b"iTXt", b"chara\x00\x01\x00en\x00\x00" + zlib.compress(b64json(v2_card("Ita"))))
    assert read_card_bytes(tiny_png([itxt]), "i.png").card.name == "Ita"
    plain_itxt = png_chunk(b"iTXt", b"chara\x00\x00\x00\x00\x00" + b64json(v2_card("Pia")))
    assert read_card_bytes(tiny_png([plain_itxt]), "i.png").card.name == "Pia"


def test_png_keyword_is_matched_exactly_not_first_text_chunk():
    # a "chara-ext-asset_" chunk and a "character" chunk are not the card
    png = tiny_png([
        text_chunk("character", b64json(v2_card("Wrong"))),
        text_chunk("chara-ext-asset_:x.png", base64.b64encode(b"bytes")),
        text_chunk("chara", b64json(v2_card("Right"))),
    ])
    loaded = read_card_bytes(png, "k.png")
    assert loaded.card.name == "Right"
    assert (b"tEXt", b"chara-ext-asset_:x.png") not in chunk_types(loaded.avatar)


@pytest.mark.parametrize(
    ("png", "needle"),
    [
        (tiny_png([text_chunk("Software", b"paint"), text_chunk("Comment", b"hi")]),
         "no character card in this PNG (it has no 'ccv3' or 'chara' text chunk)"),
        (tiny_png([text_chunk("chara", b64json(v2_card()))])[:60], "the PNG is truncated"),
        (tiny_png([text_chunk("chara", b64json(v2_card()))])[:-12], "truncated (it ends before its IEND chunk)"),
        (tiny_png([text_chunk("chara", b"@@@ garbage %%%")]), "the PNG's 'chara' chunk is not valid base64"),
        (tiny_png([text_chunk("chara", base64.b64encode(b"\xff\xfe{"))]), "is not valid UTF-8"),
        (tiny_png([text_chunk("chara", base64.b64encode(b"hello there"))]), "not valid JSON"),
        (tiny_png([text_chunk("chara", base64.b64encode(b'{"spec": "chara_card_v2", "data": {}}'))]), "has no name"),
        (tiny_png([text_chunk("ccv3", b"")]), "'ccv3' chunk is empty"),
        (tiny_png([png_chunk(b"zTXt", b"ccv3\x00\x00not zlib")]), "is corrupt (its compressed text does not unpack)"),
        (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IDAT", b"") + png_chunk(b"IEND", b""), "does not start with an IHDR"),
    ],
)
def test_bad_png_gives_one_clear_line(png, needle):
    with pytest.raises(CardFileError) as err:
        read_card_bytes(png, "bad.png")
    assert str(err.value).startswith("bad.png: ") and needle in str(err.value)


def test_png_with_a_bad_crc_is_refused():
    good = tiny_png([text_chunk("chara", b64json(v2_card()))])
    bad = bytearray(good)
    bad[45] ^= 0xFF  # a byte inside IDAT's data
    with pytest.raises(CardFileError, match="bad checksum in chunk IDAT"):
        read_card_bytes(bytes(bad), "crc.png")
    wrong = tiny_png([png_chunk(b"tEXt", b"chara\x00" + b64json(v2_card()), crc=1234)])
    with pytest.raises(CardFileError, match="bad checksum in chunk tEXt"):
        read_card_bytes(wrong, "crc.png")


def test_not_a_png_with_png_name(tmp_path):
    p = write(tmp_path, "card.png", b"GIF89a......")
    with pytest.raises(CardFileError, match="a GIF image"):
        read_card_file(p)
    p = write(tmp_path, "card2.png", b'{"name": "x"')
    with pytest.raises(CardFileError, match="not a PNG image"):
        read_card_file(p)


def test_png_export_carries_v2_chara_and_v3_ccv3_and_round_trips():
    card = parse_card(v3_card())
    image = tiny_png([text_chunk("Comment", b"keep me"), text_chunk("chara", b64json(v2_card("Stale")))])
    out = cf.card_to_png(card, image)
    keywords = [k for t, k in chunk_types(out) if t == b"tEXt"]
    assert keywords == [b"Comment", b"chara", b"ccv3"]  # the stale card chunk is gone
    assert chunk_types(out)[-1] == (b"IEND", b"")
    v2 = json.loads(base64.b64decode(text_payload(out, b"chara")))
    v3 = json.loads(base64.b64decode(text_payload(out, b"ccv3")))
    assert v2["spec"] == "chara_card_v2" and v2["data"]["nickname"] == "Ris"
    assert v3 == v3_card()
    back = read_card_bytes(out, "out.png")
    assert back.card == card
    assert back.avatar == tiny_png([text_chunk("Comment", b"keep me")])
    # V2-only readers get the V3 fields back too
    only_v2 = tiny_png([text_chunk("chara", text_payload(out, b"chara"))])
    assert read_card_bytes(only_v2, "v2.png").card == card


def test_placeholder_png_is_a_valid_64px_image():
    png = cf.placeholder_png(64, (1, 2, 3))
    chunks = cf.read_png_chunks(png, "p.png")
    assert [c.type for c in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0].data[:10])
    assert (width, height, depth, colour) == (64, 64, 8, 2)
    pixels = zlib.decompress(chunks[1].data)
    assert pixels == (b"\x00" + b"\x01\x02\x03" * 64) * 64
    out = cf.card_to_png(parse_card(v2_card()))
    assert read_card_bytes(out, "x.png").card.name == "Iris"


# --------------------------------------------------------------------------
# CHARX


def charx_with_icon(card: dict | None = None, icon: bytes | None = None) -> bytes:
    card = card or v3_card()
    card = json.loads(json.dumps(card))
    card["data"]["assets"] = [
        {"type": "icon", "uri": "embeded://assets/icon/images/main.png", "name": "main", "ext": "png"},
        {"type": "background", "uri": "embeded://assets/background/images/sky.png", "name": "main", "ext": "png"},
    ]
    return make_zip({
        "card.json": json.dumps(card).encode(),
        "assets/icon/images/main.png": icon or tiny_png(),
        "assets/background/images/sky.png": tiny_png(rgb=b"\x00\x00\xff"),
        "x_app.json": b'{"app": true}',
    })


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
    out = cf.card_to_charx(loaded.card, loaded.avatar, "png", cf.charx_entries(src))
    back = read_card_bytes(out, "out.charx")
    assert back.card == loaded.card and back.avatar == loaded.avatar
    names = set(zipfile.ZipFile(io.BytesIO(out)).namelist())
    assert names == {"card.json", "assets/icon/images/main.png", "assets/background/images/sky.png", "x_app.json"}
    assert cf.card_to_charx(loaded.card, loaded.avatar, "png", cf.charx_entries(src)) == out  # deterministic


def test_charx_export_of_a_card_without_icon_asset_adds_one():
    card = parse_card(v3_card())  # main icon is "ccdefault:"
    out = cf.card_to_charx(card, tiny_png(), "png")
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
    monkeypatch.setattr(cf, "MAX_JSON_BYTES", 4096)
    big = json.dumps({"name": "Iris", "description": "x" * 100_000}).encode()
    with pytest.raises(CardFileError, match="'card.json' in the CHARX is too large"):
        read_card_bytes(make_zip({"card.json": big}), "big.charx")


def test_too_many_zip_entries(monkeypatch):
    monkeypatch.setattr(cf, "MAX_ZIP_ENTRIES", 3)
    data = make_zip({"card.json": b"{}", **{f"assets/other/{i}": b"x" for i in range(5)}})
    with pytest.raises(CardFileError, match="too many files"):
        read_card_bytes(data, "many.charx")


def test_not_a_zip_with_charx_name(tmp_path):
    with pytest.raises(CardFileError, match="not a CHARX file"):
        read_card_file(write(tmp_path, "x.charx", b"hello"))


# --------------------------------------------------------------------------
# importing into a profile


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "profile")


def folder_names(store: Store) -> list[str]:
    root = store.characters_dir
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_import_png_writes_card_avatar_and_original_privately(store, tmp_path):
    png = tiny_png([text_chunk("ccv3", b64json(v3_card()))])
    src = write(tmp_path, "Iris Card.png", png)
    result = ch.import_card_file(store, src)
    assert result.slug == "iris" and result.card.name == "Iris" and result.warnings == []
    folder = store.character_dir("iris")
    assert sorted(p.name for p in folder.iterdir()) == ["avatar.png", "card.json", "original.png"]
    assert (folder / "original.png").read_bytes() == png
    assert (folder / "avatar.png").read_bytes() == tiny_png()
    stored = json.loads((folder / "card.json").read_text())
    assert stored["version"] == 1 and stored["data"]["unknown_v3_field"] == ["kept"]
    assert mode(folder) == 0o700 and mode(store.characters_dir) == 0o700
    assert all(mode(p) == 0o600 for p in folder.iterdir())
    assert ch.avatar_path(store, "iris") == folder / "avatar.png"


def test_import_picks_unique_slugs(store, tmp_path):
    p = write(tmp_path, "a.json", json.dumps(v2_card("Iris Vale")).encode())
    slugs = [ch.import_card_file(store, p).slug for _ in range(3)]
    assert slugs == ["iris-vale", "iris-vale-2", "iris-vale-3"]
    assert folder_names(store) == slugs


def test_import_charx_with_webp_icon_keeps_its_type(store, tmp_path):
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8
    card = v3_card()
    card["data"]["assets"] = [{"type": "icon", "uri": "embeded://assets/icon/images/main.webp", "name": "main", "ext": "webp"}]
    data = make_zip({"card.json": json.dumps(card).encode(), "assets/icon/images/main.webp": webp})
    slug = ch.import_card_file(store, write(tmp_path, "i.charx", data)).slug
    assert (store.character_dir(slug) / "avatar.webp").read_bytes() == webp
    assert (store.character_dir(slug) / "original.charx").read_bytes() == data
    # PNG export cannot convert WebP: placeholder plus a warning; CHARX keeps it
    warnings = ch.export_card(store, slug, "png", tmp_path / "out.png")
    assert "WEBP image" in warnings[0]
    assert read_card_bytes((tmp_path / "out.png").read_bytes(), "o").card.name == "Iris"
    assert ch.export_card(store, slug, "charx", tmp_path / "out.charx") == []
    assert read_card_bytes((tmp_path / "out.charx").read_bytes(), "o").avatar == webp


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bad.png", tiny_png([text_chunk("Comment", b"no card")])),
        ("bad.json", b'{"name": '),
        ("young.json", json.dumps({"name": "Kit", "description": "Kit is 15 years old."}).encode()),
    ],
)
def test_failed_import_writes_nothing(store, tmp_path, name, data):
    with pytest.raises(CardError):
        ch.import_card_file(store, write(tmp_path, name, data))
    assert folder_names(store) == []


def test_import_interrupted_midway_leaves_nothing(store, tmp_path, monkeypatch):
    real = ch.atomic_write
    calls = []

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ch, "atomic_write", flaky)
    png = tiny_png([text_chunk("chara", b64json(v2_card()))])
    with pytest.raises(OSError):
        ch.import_card_file(store, write(tmp_path, "x.png", png))
    assert folder_names(store) == []


def test_leftovers_of_an_interrupted_import_are_never_listed(store, tmp_path):
    # what a crash just before the final rename leaves: a hidden folder with no card.json
    p = write(tmp_path, "a.json", json.dumps(v2_card()).encode())
    slug = ch.import_card_file(store, p).slug
    folder = store.character_dir(slug)
    assert (folder / "card.json").is_file() and not (folder / "card.pending.json").exists()
    leftover = store.characters_dir / ".deleted-old-abc"
    leftover.mkdir()
    ch.import_card_file(store, p)
    assert not leftover.exists()


@pytest.mark.parametrize("fmt", ["json", "png", "charx"])
def test_export_then_import_is_lossless(store, tmp_path, fmt):
    src = charx_with_icon(icon=tiny_png(rgb=b"\x01\x02\x03"))
    slug = ch.import_card_file(store, write(tmp_path, "in.charx", src)).slug
    out = tmp_path / f"out.{fmt}"
    assert ch.export_card(store, slug, fmt, out) == []
    assert mode(out) == 0o600
    again = ch.import_card_file(store, out)
    assert again.slug == f"{slug}-2"
    original = json.loads((store.character_dir(slug) / "card.json").read_text())
    copied = json.loads((store.character_dir(again.slug) / "card.json").read_text())
    assert copied == original
    if fmt == "json":
        assert json.loads(out.read_text()) == card_to_v3(again.card)
        assert ch.avatar_path(store, again.slug) is None
    else:
        assert ch.avatar_path(store, again.slug).read_bytes() == tiny_png(rgb=b"\x01\x02\x03")
    if fmt == "charx":  # the background and app file came along from the original
        names = zipfile.ZipFile(out).namelist()
        assert "assets/background/images/sky.png" in names and "x_app.json" in names


def test_export_errors(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    with pytest.raises(CardFileError, match="is a folder"):
        ch.export_card(store, slug, "json", tmp_path)
    with pytest.raises(CardFileError, match="does not exist"):
        ch.export_card(store, slug, "json", tmp_path / "missing" / "x.json")
    with pytest.raises(CardFileError, match="unknown export format 'gif'"):
        ch.export_card(store, slug, "gif", tmp_path / "x.gif")
    with pytest.raises(ch.CharacterMissing, match="no character 'ghost'"):
        ch.export_card(store, "ghost", "json", tmp_path / "x.json")


def test_export_does_not_change_the_target_folder_mode(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    ch.export_card(store, slug, "png", shared / "iris.png")
    assert mode(shared) == 0o755 and read_card_file(shared / "iris.png")[0].card.name == "Iris"


def test_delete_character(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    ch.delete_character(store, slug)
    assert folder_names(store) == []
    with pytest.raises(ch.CharacterMissing, match="no character 'iris'"):
        ch.delete_character(store, slug)
    from tui.core.storage.errors import InvalidId

    with pytest.raises(InvalidId):
        ch.delete_character(store, "../etc")


def test_charx_export_never_writes_a_path_that_climbs_out():
    card = parse_card(v3_card())
    card.assets = [{"type": "icon", "uri": "embeded://../../evil.png", "name": "main", "ext": "png"}]
    others = [("../up.txt", b"x"), ("/abs.txt", b"x"), ("ok/file.txt", b"y")]
    out = cf.card_to_charx(card, tiny_png(), "png", others)
    names = zipfile.ZipFile(io.BytesIO(out)).namelist()
    assert sorted(names) == ["assets/icon/images/main.png", "card.json", "ok/file.txt"]
    stored = json.loads(zipfile.ZipFile(io.BytesIO(out)).read("card.json"))
    assert stored["data"]["assets"][0]["uri"] == "embeded://assets/icon/images/main.png"
