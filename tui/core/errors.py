"""The one root of every error a user can act on.

``str(exc)`` of a :class:`CandlelitError` is one clear line for the user.
See docs/ARCHITECTURE.md#errors.
"""

from __future__ import annotations


class CandlelitError(Exception):
    """A user-facing failure, described in one line by ``str(exc)``."""
