"""Make untrusted text (model output, card fields) safe to show in a terminal.

Escape sequences and control characters become visible stand-ins. See
docs/ARCHITECTURE.md#the-bottom-floor.
"""

from __future__ import annotations

_KEEP = {"\n", "\t"}


def _visible(ch: str) -> str:
    code = ord(ch)
    if code == 0x1B:
        return "\u241b"            # ␛
    if code < 0x20:
        return chr(0x2400 + code)  # control pictures ␀..␟
    if code == 0x7F:
        return "\u2421"            # ␡
    return "\ufffd"                # C1 controls (0x80-0x9f)


def neutralize(text: str) -> str:
    """Replace control characters (except newline and tab) with visible symbols."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _KEEP or not (code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F):
            out.append(ch)
        else:
            out.append(_visible(ch))
    return "".join(out)
