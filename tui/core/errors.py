"""The one root of every error a user can act on.

``str(exc)`` of a :class:`CandlelitError` is one clear line for the user
(what went wrong, and that nothing saved was lost); the CLI prints it after
``candlelit: error:`` and the TUI shows it in a notice. Anything else that
escapes is a defect. See docs/ARCHITECTURE.md ("Errors").
"""

from __future__ import annotations


class CandlelitError(Exception):
    """A user-facing failure, described in one line by ``str(exc)``."""
