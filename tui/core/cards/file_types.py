"""What reading a card file gives (:class:`LoadedCard`), its one error, and image sniffing."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.core.cards.card import Card, CardError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def one_line(text: str) -> str:
    return " ".join(text.split())[:200]
