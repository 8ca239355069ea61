"""Storage errors: one clear line for the user, rooted at ``CandlelitError``.

See docs/ARCHITECTURE.md (storage).
"""

from __future__ import annotations

from tui.core.errors import CandlelitError


class StoreError(CandlelitError):
    """A storage problem the user can act on; ``str()`` is one clear line."""


class ChatNotFound(StoreError):
    """The chat id names no chat in this profile."""


class MessageNotFound(StoreError):
    """The message id names no message in this chat."""


class InvalidId(StoreError):
    """An id from outside that could escape its folder or is malformed."""
