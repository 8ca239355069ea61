"""Characters in a profile: import a card file, export it, delete it.

A character lives in ``characters/<slug>/``::

    card.json          normalized V3 card plus our "version" (tui.core.cards.card)
    avatar.<ext>       the image the card came with (png, jpg, webp, gif, avif)
    original.<ext>     the imported file, byte for byte (json, png or charx)

Import is all or nothing: the files are written into a hidden
``characters/.import-<random>`` folder, which is renamed to its slug at the
end; ``card.json`` gets its name last, so a folder only ever shows up in
the character list complete. Delete takes ``card.json`` away first, for
the same reason. Files are 0600 and folders 0700 (``tui.core.fsio``).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.cards.adult_guard import guard_card
from tui.core.cards.card import Card, CardError, load_card_file, save_card_file, slugify
from tui.core.cards.card_json import card_to_json_bytes, check_card_limits
from tui.core.cards.charx import card_to_charx, charx_entries
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_file
from tui.core.cards.png_card import card_to_png
from tui.core.errors import CandlelitError
from tui.core.fsio import FILE_MODE, atomic_write, ensure_dir, fsync_dir, remove_tree, rename
from tui.core.storage.errors import StoreError
from tui.core.storage.model import check_id
from tui.core.storage.store import Store

EXPORT_FORMATS = ("json", "png", "charx")
AVATAR_EXTS = ("png", "jpg", "webp", "gif", "avif")
_PENDING = "card.pending.json"
_STALE_AFTER_S = 3600


class CharacterMissing(CandlelitError):
    """No character with that slug in this profile."""


@dataclass(frozen=True)
class ImportResult:
    slug: str
    card: Card
    warnings: list[str] = field(default_factory=list)


def _missing(slug: str) -> CharacterMissing:
    return CharacterMissing(f"no character '{slug}' (see `candlelit card list`)")


def avatar_path(store: Store, slug: str) -> Path | None:
    """The character's avatar image, if it has one."""
    folder = store.character_dir(slug)
    for ext in AVATAR_EXTS:
        candidate = folder / f"avatar.{ext}"
        if candidate.is_file():
            return candidate
    return None


def original_path(store: Store, slug: str) -> Path | None:
    """The file the character was imported from, if it was imported."""
    folder = store.character_dir(slug)
    for ext in ("charx", "png", "json"):
        candidate = folder / f"original.{ext}"
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------
# import


def import_card_file(store: Store, path: Path) -> ImportResult:
    """Import a JSON/PNG/CHARX card file into the profile; return its new slug.

    Raises ``CardError`` (bad file, or refused by the content guard) before
    anything is written.
    """
    path = Path(path)
    loaded, raw = read_card_file(path)
    guard_card(loaded.card, str(path))
    root = ensure_dir(store.characters_dir)
    _sweep(root)
    tmp = root / f".import-{secrets.token_hex(6)}"
    ensure_dir(tmp)
    try:
        save_card_file(tmp / _PENDING, loaded.card)
        if loaded.avatar is not None and loaded.avatar_ext:
            atomic_write(tmp / f"avatar.{loaded.avatar_ext}", loaded.avatar)
        atomic_write(tmp / f"original.{loaded.fmt}", raw)
        target = _claim_slug(root, tmp, slugify(loaded.card.name))
    except BaseException:
        remove_tree(tmp)
        raise
    rename(target / _PENDING, target / "card.json")
    fsync_dir(target)
    return ImportResult(target.name, loaded.card, list(loaded.warnings))


def save_character(store: Store, card: Card, slug: str | None = None, *, now: int | None = None) -> str:
    """Check and save a card made or edited by hand (the Studio); return its slug.

    ``slug`` None makes a new character: its folder is claimed as an import
    claims one (``name``, ``name-2``...), with the card written before the
    folder gets its name. Stamps ``modification_date`` (and a missing
    ``creation_date`` on a new one). Raises ``ContentRefused`` or
    ``CardError`` before anything is written or stamped; ``StoreError`` or
    ``OSError`` when the write fails.
    """
    check_card_limits(card, "this card")
    guard_card(card, "this card")
    now = int(time.time()) if now is None else now
    card.modification_date = now
    if slug is not None:
        save_card_file(store.character_dir(slug) / "card.json", card)
        return slug
    card.creation_date = card.creation_date or now
    root = ensure_dir(store.characters_dir)
    tmp = root / f".import-{secrets.token_hex(6)}"
    ensure_dir(tmp)
    try:
        save_card_file(tmp / _PENDING, card)
        target = _claim_slug(root, tmp, slugify(card.name))
    except BaseException:
        remove_tree(tmp)
        raise
    rename(target / _PENDING, target / "card.json")
    fsync_dir(target)
    return target.name


def _claim_slug(root: Path, tmp: Path, base: str) -> Path:
    """Rename ``tmp`` to the first free ``base``, ``base-2``, ``base-3``..."""
    for n in range(1, 10_000):
        slug = base if n == 1 else f"{base}-{n}"
        target = root / slug
        if target.exists() or target.is_symlink():
            continue
        try:
            rename(tmp, target)
        except OSError:
            continue  # taken meanwhile
        fsync_dir(root)
        return target
    raise StoreError(f"too many characters named like '{base}'")


def _sweep(root: Path) -> None:
    """Remove what an interrupted import or delete left behind."""
    now = time.time()
    for leftover in list(root.glob(".import-*")):
        try:
            if now - leftover.stat().st_mtime > _STALE_AFTER_S:
                remove_tree(leftover)
        except OSError:
            pass
    for leftover in list(root.glob(".deleted-*")):
        remove_tree(leftover)


# --------------------------------------------------------------------------
# delete


def delete_character(store: Store, slug: str) -> None:
    """Remove the character's folder and everything in it."""
    check_id(slug, "character")
    folder = store.character_dir(slug)
    if not folder.is_dir() or folder.is_symlink():
        raise _missing(slug)
    card = folder / "card.json"
    if card.exists():
        # Out of the list first: a crash from here on leaves nothing listed.
        rename(card, folder / "card.deleted.json")
        fsync_dir(folder)
    doomed = store.characters_dir / f".deleted-{slug}-{secrets.token_hex(3)}"
    rename(folder, doomed)
    fsync_dir(store.characters_dir)
    remove_tree(doomed)


# --------------------------------------------------------------------------
# export


def export_card(store: Store, slug: str, fmt: str, out: Path) -> list[str]:
    """Write the character to ``out`` as ``json`` (V3), ``png`` or ``charx``.

    Returns warnings (e.g. a PNG drawn with a placeholder image).
    """
    if fmt not in EXPORT_FORMATS:
        raise CardFileError(f"unknown export format {fmt!r} (use json, png or charx)")
    check_id(slug, "character")
    card_path = store.character_dir(slug) / "card.json"
    if not card_path.is_file():
        raise _missing(slug)
    card = load_card_file(card_path)
    out = Path(out)
    if out.is_dir():
        raise CardFileError(f"{out}: is a folder; give the name of the file to write")
    warnings: list[str] = []
    avatar = avatar_path(store, slug)
    if fmt == "json":
        data = card_to_json_bytes(card)
    elif fmt == "png":
        image = None
        if avatar is not None and avatar.suffix == ".png":
            image = avatar.read_bytes()
        elif avatar is not None:
            warnings.append(
                f"the avatar is a {avatar.suffix[1:].upper()} image and PNG export cannot convert it; "
                "the PNG uses a plain placeholder (export as charx to keep the image)"
            )
        try:
            data = card_to_png(card, image, str(avatar))
        except CardError:
            warnings.append(f"{avatar}: the avatar is not a readable PNG; the PNG uses a plain placeholder")
            data = card_to_png(card, None)
    else:
        icon = avatar.read_bytes() if avatar is not None else None
        ext = avatar.suffix[1:] if avatar is not None else "png"
        others: list[tuple[str, bytes]] = []
        original = original_path(store, slug)
        if original is not None and original.suffix == ".charx":
            try:
                others = charx_entries(original.read_bytes(), str(original))
            except CardError as exc:
                warnings.append(f"{exc}; its other assets were left out")
        data = card_to_charx(card, icon, ext, others)
    _write_file(out, data)
    return warnings


def _write_file(out: Path, data: bytes) -> None:
    """Write ``data`` to ``out`` atomically, mode 0600, without touching the
    folder's own permissions (it is the user's folder, not ours)."""
    parent = out.parent
    if not parent.is_dir():
        raise CardFileError(f"{out}: the folder {parent} does not exist")
    tmp = parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, out)
    fsync_dir(parent)
