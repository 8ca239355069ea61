"""Child process for test_store_crash: append messages until killed.

Usage: python crash_writer.py PROFILE_DIR CHAT_ID SEED [short]

Prints ``ack <id>`` (flushed) after each ``Store.append`` returns, so the
parent knows exactly which messages were acknowledged as durable.

With ``short``, ``os.write`` writes at most a few hundred bytes per call.
Short writes are legal POSIX behaviour that the store must handle (by
looping). The child also prints ``mid`` as soon as the first piece of a large
write is on disk, so the parent can aim its kill into the middle of a line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tui.core.storage.model import Message
from tui.core.storage.store import Store

SHORT_WRITE = 512
BIG = 256 * 1024


def text_for(msg_id: str, seed: int) -> str:
    """Large text (300 KB to 1 MB) that the parent can rebuild from the id."""
    size = 300_000 + (int(msg_id[-4:], 16) * 7919 + seed) % 700_000
    unit = f"{msg_id} — a quiet evening by the lantern, «ünïcode» ✨ line\n"
    return (unit * (size // len(unit) + 1))[:size]


def _short_writes() -> None:
    real_write = os.write

    def write(fd: int, data: bytes) -> int:  # type: ignore[override]
        n = real_write(fd, memoryview(data)[:SHORT_WRITE])
        if len(data) >= BIG:  # the start of a message line, with plenty to go
            real_write(1, b"mid\n")
        return n

    os.write = write  # type: ignore[assignment]


def main() -> None:
    profile, chat_id, seed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if sys.argv[4:] == ["short"]:
        _short_writes()
    store = Store(profile)
    out = sys.stdout
    while True:
        m = Message.new("Mira", "assistant", "")
        m.text = text_for(m.id, seed)
        store.append(chat_id, m)
        out.write(f"ack {m.id}\n")
        out.flush()


if __name__ == "__main__":
    main()
