"""SillyTavern-style macros: ``{{char}}``, ``{{user}}`` (case-insensitive).

Unknown macros are left exactly as typed. See docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_MACRO = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def expand(text: str, values: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in values.items()}

    def sub(m: re.Match[str]) -> str:
        value = lowered.get(m.group(1).lower())
        return m.group(0) if value is None else value

    return _MACRO.sub(sub, text)
