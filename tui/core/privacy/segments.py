"""Segments: how a long line log (a chat's messages.jsonl) is cut into
separately encrypted pieces, and what the index records of each.

See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

# A line log (``*.jsonl``, or anything appended to) longer than this is kept
# as a sequence of segments, each its own age file (see tui.core.privacy.sealed_fs):
SEGMENT_LINES = 128
SEGMENT_BYTES = 128 * 1024


Segment = tuple[str, int, int, "int | None"]
"""One closed segment of a segmented file: (opaque name, plaintext bytes,
lines, records). ``lines`` counts newlines; ``records`` the non-blank
newline-terminated lines (what a chat counts as messages, see
:func:`count_records`), so a reader can place a message without decrypting
the segments before it. ``None``: not recorded (an index written before it
was), the reader then decrypts to count."""


def count_records(data: bytes) -> int:
    """Non-blank, newline-terminated lines of ``data`` (the messages of a
    chat: the same rule as ``tui.core.storage.message_log.line_starts``)."""
    return sum(1 for line in data.split(b"\n")[:-1] if line.strip())


def segment_of(opaque: str, piece: bytes) -> Segment:
    """The index entry of a closed segment holding ``piece``."""
    return (opaque, len(piece), piece.count(b"\n"), count_records(piece))


def _fits(data: bytes) -> bool:
    return len(data) <= SEGMENT_BYTES and data.count(b"\n") <= SEGMENT_LINES


def split_segments(data: bytes) -> list[bytes]:
    """Cut ``data`` at line ends into pieces of at most ``SEGMENT_LINES``
    lines and ``SEGMENT_BYTES`` bytes (a longer single line is one piece of
    its own). Joined, the pieces are ``data``; an unterminated tail stays in
    the last piece. Never returns an empty list."""
    if _fits(data):
        return [data]
    pieces: list[bytes] = []
    start = 0
    n = len(data)
    while start < n:
        pos, lines = start, 0
        while pos < n and lines < SEGMENT_LINES:
            end = data.find(b"\n", pos)
            end = n if end < 0 else end + 1
            if end - start > SEGMENT_BYTES and pos > start:
                break
            pos = end
            lines += 1
        pieces.append(data[start:pos])
        start = pos
    return pieces
