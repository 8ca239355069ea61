"""Cards in PNG text chunks (``ccv3`` preferred over ``chara``), read with every CRC checked, and written."""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from tui.core.cards.card import Card, CardError, card_to_v2, card_to_v3
from tui.core.cards.card_json import MAX_JSON_BYTES, card_from_json_bytes, compact_json
from tui.core.cards.file_types import PNG_SIGNATURE, CardFileError, LoadedCard
from tui.core.fsio import size_text

CARD_KEYWORDS = ("ccv3", "chara")  # in order of preference
_LEGACY_ASSET_PREFIX = "chara-ext-asset_"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# A PNG of millions of empty chunks must not cost memory and seconds to
# refuse. libpng keeps at most 1,000 ancillary chunks by default; real card
# images have a few dozen chunks in all (image data is split into IDATs of
# 8-64 KB, so 65,536 of them is over 500 MB of pixels).
MAX_ANCILLARY_CHUNKS = 1_000
MAX_CHUNKS = 65_536


@dataclass(frozen=True)
class PngChunk:
    type: bytes
    data: bytes


def read_png_chunks(data: bytes, source: str = "<png>") -> list[PngChunk]:
    """All chunks up to and including IEND; CRCs checked; errors name ``source``."""
    if not data.startswith(PNG_SIGNATURE):
        raise CardFileError(f"{source}: not a PNG image (the file does not start with a PNG signature)")
    chunks: list[PngChunk] = []
    pos = len(PNG_SIGNATURE)
    end = len(data)
    ancillary = 0
    while True:
        if len(chunks) >= MAX_CHUNKS:
            raise CardFileError(f"{source}: the PNG has more than {MAX_CHUNKS:,} chunks; not a card image")
        if pos + 8 > end:
            raise CardFileError(f"{source}: the PNG is truncated (it ends before its IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        name = ctype.decode("latin-1")
        if not all(65 <= b <= 90 or 97 <= b <= 122 for b in ctype):
            raise CardFileError(f"{source}: the PNG is corrupt (a chunk type {name!r} is not letters)")
        if length > 0x7FFFFFFF:
            raise CardFileError(f"{source}: the PNG is corrupt (chunk {name} claims {length:,} bytes)")
        if pos + 12 + length > end:
            raise CardFileError(
                f"{source}: the PNG is truncated (chunk {name} runs past the end of the file)"
            )
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(ctype + body) != crc:
            raise CardFileError(f"{source}: the PNG is corrupt (bad checksum in chunk {name})")
        if not chunks and ctype != b"IHDR":
            raise CardFileError(f"{source}: the PNG is corrupt (it does not start with an IHDR chunk)")
        if ctype[0] >= 97:  # lowercase first letter: ancillary (text, metadata)
            ancillary += 1
            if ancillary > MAX_ANCILLARY_CHUNKS:
                raise CardFileError(
                    f"{source}: the PNG has more than {MAX_ANCILLARY_CHUNKS:,} metadata chunks; not a card image"
                )
        chunks.append(PngChunk(ctype, body))
        pos += 12 + length
        if ctype == b"IEND":
            return chunks


def write_png_chunks(chunks: list[PngChunk]) -> bytes:
    """Serialize chunks (with their CRCs) after the PNG signature."""
    out = bytearray(PNG_SIGNATURE)
    for chunk in chunks:
        out += struct.pack(">I", len(chunk.data))
        out += chunk.type + chunk.data
        out += struct.pack(">I", zlib.crc32(chunk.type + chunk.data))
    return bytes(out)


def _inflate(body: bytes, limit: int, source: str, what: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise CardFileError(f"{source}: {what} is corrupt (its compressed text does not unpack)") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise CardFileError(f"{source}: {what} is too large (the limit is {size_text(limit)})")
    return out


def _text_chunk(chunk: PngChunk, source: str) -> tuple[str, bytes] | None:
    """``(keyword, raw text bytes)`` of a text chunk, or None if it is not one."""
    if chunk.type not in _TEXT_CHUNKS:
        return None
    keyword_raw, sep, rest = chunk.data.partition(b"\x00")
    if not sep:
        return None  # malformed text chunk: not ours to judge
    keyword = keyword_raw.decode("latin-1")
    if keyword.lower() not in CARD_KEYWORDS:
        return keyword, b""
    what = f"the PNG's '{keyword}' chunk"
    limit = MAX_JSON_BYTES * 4 // 3 + 16  # base64 of the largest card JSON
    if chunk.type == b"tEXt":
        return keyword, rest
    if chunk.type == b"zTXt":
        if not rest or rest[0] != 0:
            raise CardFileError(f"{source}: {what} uses an unknown compression method")
        return keyword, _inflate(rest[1:], limit, source, what)
    # iTXt: flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        raise CardFileError(f"{source}: {what} is truncated")
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) != 3:
        raise CardFileError(f"{source}: {what} is malformed")
    text = parts[2]
    if flag:
        if method != 0:
            raise CardFileError(f"{source}: {what} uses an unknown compression method")
        text = _inflate(text, limit, source, what)
    return keyword, text


def _is_card_chunk(chunk: PngChunk) -> bool:
    if chunk.type not in _TEXT_CHUNKS:
        return False
    keyword = chunk.data.partition(b"\x00")[0].decode("latin-1").lower()
    return keyword in CARD_KEYWORDS or keyword.startswith(_LEGACY_ASSET_PREFIX)


def _decode_chunk_text(keyword: str, raw: bytes, source: str) -> tuple[Card, list[str]]:
    where = f"the PNG's '{keyword}' chunk"
    stripped = raw.strip()
    if stripped.startswith(b"{"):  # some tools store plain JSON
        return card_from_json_bytes(stripped, source, where)
    compact = re.sub(rb"\s+", b"", stripped)
    if not compact:
        raise CardFileError(f"{source}: {where} is empty")
    compact += b"=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CardFileError(f"{source}: {where} is not valid base64") from None
    return card_from_json_bytes(decoded, source, f"the text in {where}")


def read_png(data: bytes, source: str) -> LoadedCard:
    chunks = read_png_chunks(data, source)
    found: dict[str, tuple[str, bytes]] = {}
    warnings: list[str] = []
    for chunk in chunks:
        text = _text_chunk(chunk, source)
        if text is None:
            continue
        keyword, raw = text
        key = keyword.lower()
        if key not in CARD_KEYWORDS:
            continue
        if key in found:
            warnings.append(f"{source}: the PNG has more than one '{key}' chunk; the first was used")
            continue
        found[key] = (keyword, raw)
    if not found:
        raise CardFileError(
            f"{source}: no character card in this PNG (it has no 'ccv3' or 'chara' text chunk)"
        )
    card: Card | None = None
    first_error: CardError | None = None
    for key in CARD_KEYWORDS:
        if key not in found:
            continue
        keyword, raw = found[key]
        try:
            card, spec_warnings = _decode_chunk_text(keyword, raw, source)
        except CardError as exc:
            if first_error is None:
                first_error = exc
            continue
        if first_error is not None:
            warnings.append(f"{first_error}; the '{keyword}' chunk was used instead")
        warnings += spec_warnings
        break
    if card is None:
        assert first_error is not None
        raise first_error
    avatar = write_png_chunks([c for c in chunks if not _is_card_chunk(c)])
    return LoadedCard(card, "png", avatar, "png", warnings)


def placeholder_png(size: int = 64, rgb: tuple[int, int, int] = (0x5A, 0x44, 0x32)) -> bytes:
    """A valid ``size``x``size`` solid-colour RGB PNG."""
    row = b"\x00" + bytes(rgb) * size
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    idat = zlib.compress(row * size, 9)
    return write_png_chunks([PngChunk(b"IHDR", ihdr), PngChunk(b"IDAT", idat), PngChunk(b"IEND", b"")])


def placeholder_colour(name: str) -> tuple[int, int, int]:
    """A muted, warm colour picked from the name (the same name, the same colour)."""
    h = zlib.crc32(name.encode("utf-8"))
    return (0x50 + (h & 0x3F), 0x38 + ((h >> 8) & 0x2F), 0x28 + ((h >> 16) & 0x2F))


def _b64_chunk(keyword: str, obj: dict[str, Any]) -> PngChunk:
    text = base64.b64encode(compact_json(obj))
    return PngChunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + text)


def card_to_png(card: Card, image: bytes | None = None, source: str = "<avatar>") -> bytes:
    """A PNG carrying the card as ``chara`` (V2) and ``ccv3`` (V3) chunks.

    ``image`` must be a PNG (old card chunks in it are replaced); without one
    a placeholder is drawn.
    """
    base = image if image is not None else placeholder_png(rgb=placeholder_colour(card.name))
    chunks = [c for c in read_png_chunks(base, source) if not _is_card_chunk(c)]
    extra = [_b64_chunk("chara", card_to_v2(card)), _b64_chunk("ccv3", card_to_v3(card))]
    return write_png_chunks(chunks[:-1] + extra + chunks[-1:])
