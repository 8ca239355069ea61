"""Make untrusted text (model output, card fields) safe to show in a terminal.

Escape sequences and control characters become visible stand-ins; so do the
invisible characters that change how text reads without being seen: bidi
overrides and isolates (a name that displays reversed, "Trojan Source") and
zero-width characters (a name that looks like another). Zero-width joiner
and non-joiner stay: emoji sequences (👩‍❤️‍👨) and Persian or Indic
writing need them. Lone surrogates (from broken imports) become U+FFFD so
that writing the text never fails. See docs/ARCHITECTURE.md#the-bottom-floor.
"""

from __future__ import annotations

_KEEP = {"\n", "\t"}

# Characters that steer or hide text: shown as a visible mark instead.
INVISIBLE = frozenset(
    "\u061c"                                  # arabic letter mark
    "\u200b\u200e\u200f"                      # zero-width space, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"          # bidi embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"          # word joiner, invisible operators
    "\u2066\u2067\u2068\u2069"                # bidi isolates
    "\u206a\u206b\u206c\u206d\u206e\u206f"    # deprecated format controls
    "\ufeff"                                  # zero-width no-break space (BOM)
    "\u180e"                                  # mongolian vowel separator
)


def _visible(ch: str) -> str:
    code = ord(ch)
    if code == 0x1B:
        return "\u241b"            # ␛
    if code < 0x20:
        return chr(0x2400 + code)  # control pictures ␀..␟
    if code == 0x7F:
        return "\u2421"            # ␡
    if ch in INVISIBLE:
        return "\u2395"            # ⎕ (an invisible character was here)
    return "\ufffd"                # C1 controls (0x80-0x9f), lone surrogates


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    if ch in _KEEP:
        return False
    return code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or ch in INVISIBLE


def neutralize(text: str) -> str:
    """Replace control, steering and invisible characters (except newline and
    tab) with visible symbols."""
    if text.isprintable():
        return text
    return "".join(_visible(ch) if _unsafe(ch) else ch for ch in text)


def json_safe(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the characters
    ``neutralize`` would mark written as ``\\uXXXX`` escapes instead: the same
    data, nothing that can drive a terminal. JSON escapes C0 controls itself;
    these can only stand inside strings there."""
    if text.isascii() or text.isprintable():
        return text
    return "".join(f"\\u{ord(ch):04x}" if ord(ch) >= 0x80 and _unsafe(ch) else ch for ch in text)
