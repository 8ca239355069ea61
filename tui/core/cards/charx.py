"""CHARX cards (a zip with ``card.json`` and assets), unpacked under zip-bomb limits, and written."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

from tui.core.cards.card import Card, CardError, card_to_v3
from tui.core.cards.card_json import MAX_JSON_BYTES, card_from_json_bytes
from tui.core.cards.file_types import CardFileError, LoadedCard, image_kind, image_kind_from_name, one_line
from tui.core.fsio import size_text

MAX_ZIP_ENTRIES = 2_000
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
ZIP_RATIO_MIN_BYTES = 1024 * 1024
MAX_AVATAR_BYTES = 20 * 1024 * 1024

_EMBED_SCHEMES = ("embeded://", "embedded://")
DEFAULT_ICON_PATH = "assets/icon/images/main"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same card zips to the same bytes


def _zip_error(source: str, exc: BaseException) -> CardFileError:
    detail = one_line(str(exc)) or type(exc).__name__
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


def read_charx(data: bytes, source: str) -> LoadedCard:
    zf = _open_zip(data, source)
    by_name = {info.filename: info for info in zf.infolist()}
    info = by_name.get("card.json")
    if info is None:
        raise CardFileError(f"{source}: no card.json at the root of the CHARX (zip) file")
    raw = _read_entry(zf, info, MAX_JSON_BYTES, source)
    card, warnings = card_from_json_bytes(raw, source, "card.json")
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
