"""A long chat made up for tests and benchmarks: ``fill_chat`` writes ``n``
alternating messages (deterministic for a seed) straight into a chat's
``messages.jsonl``, the way months of evenings would leave it."""

from __future__ import annotations

import random

from tui.core.storage.model import Message
from tui.core.storage.store import Store

_WORDS = (
    "the lantern harbour evening rain tea letter garden quiet window "
    "market river song bread laughter candle story morning road friend"
).split()


def message_text(i: int, rng: random.Random) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 40)))
    return f"Line {i + 1}: {words}."


def fill_chat(
    store: Store, chat_id: str, n: int, *, user: str = "You", character: str = "Mara", seed: int = 7
) -> list[str]:
    """Replace the chat's messages with ``n`` made-up ones; returns their ids.
    Message ``i`` (from 0) says ``Line {i+1}:`` first, so a test can find it."""
    rng = random.Random(seed)
    msgs = []
    for i in range(n):
        human = i % 2 == 0
        m = Message.new(user if human else character, "user" if human else "assistant", message_text(i, rng))
        m.id = f"{i:013x}{seed:06x}"  # sortable, in order
        m.created = "2026-01-01T00:00:00.000Z"
        msgs.append(m)
    store.replace_messages(chat_id, msgs)
    return [m.id for m in msgs]
