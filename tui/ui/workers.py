"""The one pump from core events to Textual messages.

A thread worker runs a core generator (a reply, a rehearsal line) and
posts one message per event it yields; ``post_message`` never waits on
the UI, so generation never slows down for the screen. The screen's
``@on(...)`` handlers do the rest on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump


def pump(
    target: MessagePump,
    events: Callable[[], Iterable[object]],
    on: Mapping[type, Callable[[Any], Message]],
    *,
    failed: Callable[[Exception], Message],
    done: Callable[[], Message] | None = None,
) -> None:
    """Run ``events()`` (in the calling worker thread) and post to ``target``
    ``on[type](event)`` for each event of a listed type (others are
    skipped); ``failed(exc)`` if it raises, else ``done()`` at the end."""
    try:
        for event in events():
            for kind, make in on.items():
                if isinstance(event, kind):
                    target.post_message(make(event))
                    break
    except Exception as exc:  # noqa: BLE001 - the screen shows it; nothing typed is lost
        target.post_message(failed(exc))
        return
    if done is not None:
        target.post_message(done())
