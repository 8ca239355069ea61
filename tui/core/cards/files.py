"""Character card files: JSON, PNG and CHARX, read and written.

Reading (``read_card_file`` / ``read_card_bytes``) sniffs the content, not
the file name:

- **JSON**: a V1, V2 or V3 card object (or our own stored card).
- **PNG**: the card sits in text chunks found *by keyword*: ``ccv3``
  (base64 of UTF-8 V3 JSON) and ``chara`` (base64 of V2 JSON). When both are
  there, ``ccv3`` wins. ``tEXt``, ``zTXt`` and ``iTXt`` chunks are all
  read. Every chunk's CRC is checked. The image, with the card chunks taken
  out, becomes the avatar.
- **CHARX**: a zip with ``card.json`` at its root and assets under
  ``assets/...``. The main ``icon`` asset (a V3 asset whose ``uri`` is
  ``embeded://path``, the spec's own spelling; ``embedded://`` is accepted
  too) becomes the avatar.

Writing: ``card_to_json_bytes`` (V3), ``card_to_png`` (an image carrying
both ``chara`` with V2 and ``ccv3`` with V3, like SillyTavern writes) and
``card_to_charx``. Without an avatar, PNG export draws a small solid
placeholder (``placeholder_png``).

Limits (a file over a limit is refused with one line saying which):

- a card file is at most ``MAX_FILE_BYTES`` (50 MiB);
- the card's JSON text is at most ``MAX_JSON_BYTES`` (20 MiB), nested at
  most ``MAX_JSON_DEPTH`` (64) levels, without NaN/Infinity or lone
  surrogates;
- the name is at most ``MAX_NAME_CHARS`` (1,000) characters; every other
  text field, greeting and tag at most ``MAX_FIELD_CHARS`` (1,000,000);
- a CHARX holds at most ``MAX_ZIP_ENTRIES`` (2,000) entries that unpack to at
  most ``MAX_UNZIPPED_BYTES`` (200 MiB) together; an entry over 1 MiB that
  unpacks to more than ``MAX_ZIP_RATIO`` (100) times its packed size is
  taken for a zip bomb; the avatar image is at most ``MAX_AVATAR_BYTES``
  (20 MiB). Sizes are enforced while unpacking, not just read from headers.

Every problem raises :class:`CardFileError` (a ``CardError``) whose message
is one line starting with the file's name.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.core.fsio import read_limited, size_text
from tui.core.cards.card import (
    FORMAT_VERSION,
    SPEC_V3,
    Card,
    CardError,
    card_to_v2,
    card_to_v3,
    parse_card,
)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_JSON_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_NAME_CHARS = 1_000
MAX_FIELD_CHARS = 1_000_000
MAX_ZIP_ENTRIES = 2_000
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
ZIP_RATIO_MIN_BYTES = 1024 * 1024
MAX_AVATAR_BYTES = 20 * 1024 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("ccv3", "chara")  # in order of preference
_LEGACY_ASSET_PREFIX = "chara-ext-asset_"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_EMBED_SCHEMES = ("embeded://", "embedded://")
DEFAULT_ICON_PATH = "assets/icon/images/main"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same card zips to the same bytes

_TEXT_FIELDS = (
    "description", "personality", "scenario", "first_mes", "mes_example", "creator_notes",
    "system_prompt", "post_history_instructions", "creator", "character_version", "nickname",
)
_LIST_FIELDS = ("alternate_greetings", "group_only_greetings", "tags")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class CardFileError(CardError):
    """A card file that cannot be read or written; one line naming the file."""


@dataclass
class LoadedCard:
    """What a card file held: the card, its format and its avatar image."""

    card: Card
    fmt: str  # "json" | "png" | "charx"
    avatar: bytes | None = None
    avatar_ext: str | None = None  # "png", "jpg", "webp", "gif" or "avif"
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PngChunk:
    type: bytes
    data: bytes


# --------------------------------------------------------------------------
# Entry points


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
        return _read_png(data, source)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _read_charx(data, source)
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
    card, warnings = _card_from_json_bytes(data, source, "the file")
    return LoadedCard(card, "json", warnings=warnings)


# --------------------------------------------------------------------------
# JSON


def _card_from_json_bytes(data: bytes, source: str, what: str) -> tuple[Card, list[str]]:
    """Decode, parse and check card JSON; ``what`` names where it came from."""
    if len(data) > MAX_JSON_BYTES:
        raise CardFileError(
            f"{source}: the card JSON is too large ({size_text(len(data))}; the limit is {size_text(MAX_JSON_BYTES)})"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardFileError(
            f"{source}: {what} is not valid UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return _parse_json_text(text, source)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a card")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def card_from_json_text(text: str, source: str = "<card>") -> Card:
    """Parse card JSON text (V1/V2/V3 or our own) under the limits above."""
    return _parse_json_text(text, source)[0]


def _parse_json_text(text: str, source: str) -> tuple[Card, list[str]]:
    if len(text) > MAX_JSON_BYTES:
        raise CardFileError(f"{source}: the card JSON is too large (the limit is {size_text(MAX_JSON_BYTES)})")
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise CardFileError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise CardFileError(f"{source}: the JSON is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # NaN/Infinity, giant integers
        raise CardFileError(f"{source}: not valid card JSON ({_one_line(str(exc))})") from None
    if not isinstance(obj, dict):
        raise CardFileError(f"{source}: expected a JSON object, got {_kind(obj)}")
    _check_tree(obj, source)
    version = obj.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and "data" in obj:
        if version > FORMAT_VERSION:
            raise CardFileError(
                f"{source}: written by a newer Candlelit (card format {version}); please upgrade"
            )
        del obj["version"]
    warnings = _spec_warnings(obj, source)
    try:
        card = parse_card(obj, source)
    except CardFileError:
        raise
    except CardError as exc:  # wrong types, missing name: same message, one class
        raise CardFileError(str(exc)) from None
    check_card_limits(card, source)
    return card, warnings


def _check_tree(obj: Any, source: str) -> None:
    """Depth limit and no lone surrogates, without recursion."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CardFileError(
                f"{source}: the JSON is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)"
            )
        if isinstance(node, dict):
            for key, value in node.items():
                if _SURROGATE.search(key):
                    raise CardFileError(f"{source}: the JSON has invalid Unicode (a lone surrogate) in a key")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise CardFileError(f"{source}: the JSON has invalid Unicode (a lone surrogate) in a text value")


def check_card_limits(card: Card, source: str = "<card>") -> None:
    """Refuse names and fields over the documented length limits."""
    if len(card.name) > MAX_NAME_CHARS:
        raise CardFileError(
            f"{source}: the name is too long ({len(card.name):,} characters; the limit is {MAX_NAME_CHARS:,})"
        )
    for key in _TEXT_FIELDS:
        value = getattr(card, key)
        if len(value) > MAX_FIELD_CHARS:
            raise CardFileError(
                f"{source}: field '{key}' is too long ({len(value):,} characters; "
                f"the limit is {MAX_FIELD_CHARS:,})"
            )
    for key in _LIST_FIELDS:
        for i, value in enumerate(getattr(card, key), 1):
            if len(value) > MAX_FIELD_CHARS:
                raise CardFileError(
                    f"{source}: item {i} of '{key}' is too long ({len(value):,} characters; "
                    f"the limit is {MAX_FIELD_CHARS:,})"
                )


def card_to_json_bytes(card: Card) -> bytes:
    """The card as a V3 JSON file (what ``export --format json`` writes)."""
    return (json.dumps(card_to_v3(card), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _compact_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------
# PNG


def read_png_chunks(data: bytes, source: str = "<png>") -> list[PngChunk]:
    """All chunks up to and including IEND; CRCs checked; errors name ``source``."""
    if not data.startswith(PNG_SIGNATURE):
        raise CardFileError(f"{source}: not a PNG image (the file does not start with a PNG signature)")
    chunks: list[PngChunk] = []
    pos = len(PNG_SIGNATURE)
    end = len(data)
    while True:
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
        return _card_from_json_bytes(stripped, source, where)
    compact = re.sub(rb"\s+", b"", stripped)
    if not compact:
        raise CardFileError(f"{source}: {where} is empty")
    compact += b"=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CardFileError(f"{source}: {where} is not valid base64") from None
    return _card_from_json_bytes(decoded, source, f"the text in {where}")


def _read_png(data: bytes, source: str) -> LoadedCard:
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
    text = base64.b64encode(_compact_json(obj))
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


# --------------------------------------------------------------------------
# CHARX


def _zip_error(source: str, exc: BaseException) -> CardFileError:
    detail = _one_line(str(exc)) or type(exc).__name__
    return CardFileError(f"{source}: the CHARX (zip) file is corrupt ({detail})")


def _open_zip(data: bytes, source: str) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except CardError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile raises many kinds
        raise _zip_error(source, exc) from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CardFileError(
            f"{source}: the CHARX has too many files ({len(infos):,}; the limit is {MAX_ZIP_ENTRIES:,})"
        )
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise CardFileError(
                f"{source}: refused as a likely zip bomb ({info.filename!r} unpacks from "
                f"{size_text(info.compress_size)} to {size_text(info.file_size)})"
            )
    if total > MAX_UNZIPPED_BYTES:
        raise CardFileError(
            f"{source}: refused as a likely zip bomb (it unpacks to {size_text(total)}; "
            f"the limit is {size_text(MAX_UNZIPPED_BYTES)})"
        )
    return zf


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, source: str) -> bytes:
    if info.flag_bits & 0x1:
        raise CardFileError(f"{source}: {info.filename!r} in the CHARX is encrypted")
    if info.file_size > limit:
        raise CardFileError(
            f"{source}: {info.filename!r} in the CHARX is too large ({size_text(info.file_size)}; "
            f"the limit is {size_text(limit)})"
        )
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                piece = fh.read(64 * 1024)
                if not piece:
                    break
                out += piece
                if len(out) > limit:
                    raise CardFileError(
                        f"{source}: refused as a likely zip bomb ({info.filename!r} unpacks past "
                        f"{size_text(limit)})"
                    )
    except CardError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt data, bad CRC, unknown method...
        raise _zip_error(source, exc) from None
    return bytes(out)


def _embedded_path(uri: Any) -> str | None:
    if not isinstance(uri, str):
        return None
    for scheme in _EMBED_SCHEMES:
        if uri.startswith(scheme):
            return uri[len(scheme):].lstrip("/")
    return None


def _safe_member(name: str) -> bool:
    """A zip entry name that cannot climb out of a folder it is unpacked into."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and ".." not in parts \
        and "" not in parts and ":" not in parts[0]


def main_icon(card: Card) -> dict[str, Any] | None:
    """The asset the spec names the main icon (or the first icon), if any."""
    icons = [a for a in card.assets or [] if a.get("type") == "icon"]
    return next((a for a in icons if a.get("name") == "main"), icons[0] if icons else None)


def _read_charx(data: bytes, source: str) -> LoadedCard:
    zf = _open_zip(data, source)
    by_name = {info.filename: info for info in zf.infolist()}
    info = by_name.get("card.json")
    if info is None:
        raise CardFileError(f"{source}: no card.json at the root of the CHARX (zip) file")
    raw = _read_entry(zf, info, MAX_JSON_BYTES, source)
    card, warnings = _card_from_json_bytes(raw, source, "card.json")
    avatar = avatar_ext = None
    icon = main_icon(card)
    path = _embedded_path(icon.get("uri")) if icon else None
    if path is None and (icon is None or icon.get("uri") != "ccdefault:"):
        path = next(
            (n for n in sorted(by_name) if n.startswith("assets/icon/") and not n.endswith("/")
             and image_kind_from_name(n)), None,
        )
    if path is not None:
        entry = by_name.get(path)
        if entry is None:
            warnings.append(f"{source}: the icon {path!r} is missing from the CHARX; no avatar")
        else:
            blob = _read_entry(zf, entry, MAX_AVATAR_BYTES, source)
            kind = image_kind(blob)
            if kind is None:
                warnings.append(f"{source}: the icon {path!r} is not a PNG, JPEG, WebP, GIF or AVIF image; no avatar")
            else:
                avatar, avatar_ext = blob, kind
    return LoadedCard(card, "charx", avatar, avatar_ext, warnings)


def charx_entries(data: bytes, source: str = "<charx>") -> list[tuple[str, bytes]]:
    """Every file in a CHARX except ``card.json``, read under the limits."""
    zf = _open_zip(data, source)
    out = []
    for info in zf.infolist():
        if info.is_dir() or info.filename == "card.json":
            continue
        out.append((info.filename, _read_entry(zf, info, MAX_UNZIPPED_BYTES, source)))
    return out


def card_to_charx(
    card: Card,
    icon: bytes | None = None,
    icon_ext: str = "png",
    others: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """A CHARX zip: ``card.json`` (V3), the icon and any ``others`` entries.

    The icon is stored where the card's main icon asset points; a card
    without one (or whose main icon is ``ccdefault:``) gets a main icon at
    ``assets/icon/images/main.<ext>``.
    """
    card = copy.deepcopy(card)
    files: dict[str, bytes] = {}
    for name, blob in others or []:
        if name != "card.json" and _safe_member(name):
            files[name] = blob
    if icon is not None:
        asset = main_icon(card)
        path = _embedded_path(asset.get("uri")) if asset else None
        if path is None or not _safe_member(path):
            path = f"{DEFAULT_ICON_PATH}.{icon_ext}"
            entry = {"type": "icon", "uri": f"embeded://{path}", "name": "main", "ext": icon_ext}
            if asset is not None:
                asset.update(entry)
            else:
                card.assets = [*(card.assets or []), entry]
        files[path] = icon
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        _zip_put(zf, "card.json", (json.dumps(card_to_v3(card), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        for name in sorted(files):
            _zip_put(zf, name, files[name])
    return buf.getvalue()


def _zip_put(zf: zipfile.ZipFile, name: str, blob: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    zf.writestr(info, blob)


# --------------------------------------------------------------------------
# helpers


def image_kind(blob: bytes) -> str | None:
    """``png``/``jpg``/``webp``/``gif``/``avif`` from the magic bytes, else None."""
    if blob.startswith(PNG_SIGNATURE):
        return "png"
    if blob.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "webp"
    if blob.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if blob[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return None


def image_kind_from_name(name: str) -> bool:
    return name.lower().rsplit(".", 1)[-1] in ("png", "jpg", "jpeg", "webp", "gif", "avif")


def _spec_warnings(obj: dict[str, Any], source: str) -> list[str]:
    """A V3 card made for a newer spec still imports, with a warning."""
    if obj.get("spec") != SPEC_V3:
        return []
    version = obj.get("spec_version")
    try:
        number = float(version) if isinstance(version, (str, int, float)) else 3.0
    except (ValueError, OverflowError):
        return []
    if number > 3.0:
        return [f"{source}: made for a newer card spec ({version}); features it adds are ignored"]
    return []


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


__all__ = [
    "CARD_KEYWORDS", "MAX_AVATAR_BYTES", "MAX_FIELD_CHARS", "MAX_FILE_BYTES", "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH", "MAX_NAME_CHARS", "MAX_UNZIPPED_BYTES", "MAX_ZIP_ENTRIES", "MAX_ZIP_RATIO",
    "SPEC_V3", "CardFileError", "LoadedCard", "PngChunk", "card_from_json_text", "card_to_charx",
    "card_to_json_bytes", "card_to_png", "charx_entries", "check_card_limits", "image_kind",
    "main_icon", "placeholder_png", "read_card_bytes", "read_card_file", "read_png_chunks",
    "write_png_chunks",
]
