"""Cards in PNG files (tui.core.cards.png_card): text chunks, CRCs, export."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pytest
from card_builders import (
    b64json,
    chunk_types,
    png_chunk,
    text_chunk,
    text_payload,
    tiny_png,
    v2_card,
    v3_card,
    write,
)

from tui.core.cards.card import parse_card
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_bytes, read_card_file
from tui.core.cards.png_card import card_to_png, placeholder_png, read_png_chunks

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
    out = card_to_png(card, image)
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
    png = placeholder_png(64, (1, 2, 3))
    chunks = read_png_chunks(png, "p.png")
    assert [c.type for c in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0].data[:10])
    assert (width, height, depth, colour) == (64, 64, 8, 2)
    pixels = zlib.decompress(chunks[1].data)
    assert pixels == (b"\x00" + b"\x01\x02\x03" * 64) * 64
    out = card_to_png(parse_card(v2_card()))
    assert read_card_bytes(out, "x.png").card.name == "Iris"


def _chunk(ctype: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


@pytest.mark.parametrize(("ctype", "count", "why"), [(b"tEXt", 200_000, "metadata chunks"),
                                                     (b"IDAT", 200_000, "chunks")])
def test_a_png_of_countless_empty_chunks_is_refused_early(ctype, count, why):
    png = placeholder_png()
    head, iend = png[:-12], png[-12:]
    assert iend[4:8] == b"IEND"
    hostile = head + _chunk(ctype) * count + iend
    with pytest.raises(CardFileError, match=f"more than .* {why}; not a card image"):
        read_png_chunks(hostile, "many.png")
    with pytest.raises(CardFileError, match="not a card image"):
        read_card_bytes(hostile, "many.png")
