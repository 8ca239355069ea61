"""The cancel event of one generation."""

from __future__ import annotations

import threading


class LinkedEvent(threading.Event):
    """Set on its own (the engine sets it when a generation ends or is
    preempted) or through the caller's event, which it never sets: one
    caller event can stop a run of several generations."""

    def __init__(self, parent: threading.Event | None) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        return super().is_set() or (self._parent is not None and self._parent.is_set())
