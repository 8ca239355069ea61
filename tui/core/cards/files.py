"""Reading a character card file of any format (JSON, PNG, CHARX), sniffed by content, not name.

Every problem raises :class:`~tui.core.cards.file_types.CardFileError`, one line starting with the file's name.
"""

from __future__ import annotations

from pathlib import Path

from tui.core.cards.card_json import card_from_json_bytes
from tui.core.cards.charx import read_charx
from tui.core.cards.file_types import PNG_SIGNATURE, CardFileError, LoadedCard, image_kind
from tui.core.cards.png_card import read_png
from tui.core.fsio import read_limited, size_text

MAX_FILE_BYTES = 50 * 1024 * 1024


def read_card_file(path: Path) -> tuple[LoadedCard, bytes]:
    """Read a card file of any supported format; return it and the raw bytes."""
    path = Path(path)
    source = str(path)
    try:
        raw, _mtime = read_limited(path, MAX_FILE_BYTES, "card file")
    except ValueError as exc:
        raise CardFileError(f"{source}: {exc}") from None
    return read_card_bytes(raw, source, suffix=path.suffix.lower()), raw


def read_card_bytes(data: bytes, source: str = "<card>", suffix: str = "") -> LoadedCard:
    """Read a card from the bytes of a JSON, PNG or CHARX file."""
    if len(data) > MAX_FILE_BYTES:
        raise CardFileError(
            f"{source}: file too large ({size_text(len(data))}; the limit is {size_text(MAX_FILE_BYTES)})"
        )
    if not data.strip():
        raise CardFileError(f"{source}: the file is empty")
    if data.startswith(PNG_SIGNATURE):
        return read_png(data, source)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return read_charx(data, source)
    if data[:4] == b"\x89PNG" or b"IHDR" in data[8:16]:
        raise CardFileError(f"{source}: the PNG is corrupt (its signature is damaged)")
    kind = image_kind(data)
    if kind is not None:
        label = {"jpg": "a JPEG", "webp": "a WebP", "gif": "a GIF", "avif": "an AVIF"}[kind]
        raise CardFileError(
            f"{source}: {label} image; Candlelit reads cards from PNG, CHARX and JSON files"
        )
    if suffix == ".png":
        raise CardFileError(f"{source}: not a PNG image (the file does not start with a PNG signature)")
    if suffix in (".charx", ".zip"):
        raise CardFileError(f"{source}: not a CHARX file (it is not a zip archive)")
    card, warnings = card_from_json_bytes(data, source, "the file")
    return LoadedCard(card, "json", warnings=warnings)
