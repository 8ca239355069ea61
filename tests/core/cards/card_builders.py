"""Card file builders for the tests, independent of the code under test."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

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
