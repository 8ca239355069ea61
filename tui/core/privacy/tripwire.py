"""Tripwire: spot real identifying data in a message before it is sent.

:func:`scan` finds the spans (local regexes and checksums; nothing logged or
stored). See docs/ARCHITECTURE.md#privacy-sealed-storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Hit", "KINDS", "scan"]


@dataclass(frozen=True)
class Hit:
    """One span of ``text[start:end]`` that looks like real identifying data."""

    kind: str
    start: int
    end: int
    label: str


LABELS = {
    "email": "an email address",
    "card": "a payment card number",
    "iban": "a bank account number (IBAN)",
    "ssn": "a US social security number",
    "phone": "a phone number",
    "address": "a street address",
    "name": "a name on your private list",
}
KINDS = tuple(LABELS)

# --------------------------------------------------------------------------
# patterns

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")

# Two letters, two check digits, then 11-30 letters/digits: either compact
# or in groups of four separated by single spaces (the last group shorter).
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
)

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")

_SEP = r"[ .-]"
_PHONE_PATTERNS = (
    # International: +CC or 00CC, then groups (an area code may be bracketed).
    re.compile(
        r"(?<![\w+])(?:\+|00)"
        r"(?>[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6})(?!\w)"
    ),
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567.
    re.compile(
        r"(?<![\w+(.-])(?:1" + _SEP + r"?)?(?:\(\d{3}\) ?|\d{3}" + _SEP + r")"
        r"\d{3}" + _SEP + r"\d{4}(?![\w]|[.-]\d)"
    ),
    # National with a trunk 0: 020 7946 0958, 07700 900123, 06 12 34 56 78.
    re.compile(r"(?<![\w+.-])0\d{1,4}(?:[ .-]?\d{2,4}){2,4}(?![\w]|[.-]\d)"),
    # Local seven digits with a dash or dot: 555-0123.
    re.compile(r"(?<![\w+.-])\d{3}[.-]\d{4}(?![\w]|[.-]\d)"),
)
_LOCAL7 = re.compile(r"\d{3}[.-]\d{4}")
_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")

_STREET_WORDS = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|"
    "Place|Pl|Way|Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|"
    "Circle|Cir|Row|Mews|Gardens|Grove|Alley"
)
_ADDRESS_PATTERNS = (
    # 221B Baker Street, 12 Elm St., 1600 Pennsylvania Avenue NW
    re.compile(
        r"(?<![\w.,-])\d{1,5}[A-Za-z]?,? (?!(?:The|A|An|And|Or|Of|In|On|At|To) )"
        r"(?:[A-Z][\w'.-]*\.? ){1,4}(?:" + _STREET_WORDS + r")\b\.?"
    ),
    # 42 oak street (one lower-case word before a spelled-out street word)
    re.compile(r"(?<![\w.,-])\d{1,5}[a-z]? [a-z]{3,} (?:street|avenue|boulevard|lane)\b"),
    # Hauptstraße 5, Lindenweg 12a
    re.compile(
        r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|gasse|weg|allee|platz|ring|damm)"
        r" \d{1,4}[a-z]?\b"
    ),
    # 12 rue de la Paix, 3 avenue Victor Hugo
    re.compile(
        r"(?<![\w-])\d{1,4}(?: ?(?:bis|ter))?,? (?:rue|avenue|boulevard|bd|place|"
        r"allée|chemin|impasse|quai) (?:de la |de l'|du |des |de |d')?[A-ZÀ-Ý][\w'-]+"
    ),
)

# Country code -> IBAN length, for countries where the length is well known.
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24,
    "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22,
    "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15,
    "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TR": 26,
}

# --------------------------------------------------------------------------
# checks


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(span: str) -> int:
    digits = _digits(span)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return 0
    separators = {ch for ch in span if not ch.isdigit()}
    if len(separators) > 1:
        return 0
    if separators and any(len(g) < 3 for g in re.split(r"[ -]", span)):
        return 0
    return len(span) if _luhn_ok(digits) else 0


def _iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34:
        return False
    if compact[:2] in _IBAN_LENGTHS and len(compact) != _IBAN_LENGTHS[compact[:2]]:
        return False
    rotated = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rotated)
    return int(numeric) % 97 == 1


def _iban_ok(span: str) -> int:
    """Length of the longest valid IBAN at the start of ``span`` (0 if none).

    A grouped IBAN may be followed by an unrelated short capitalised word,
    so trailing groups are dropped one at a time until the checksum holds.
    """
    while True:
        if _iban_valid(span.replace(" ", "")):
            return len(span)
        cut = span.rfind(" ")
        if cut < 0:
            return 0
        span = span[:cut]


def _phone_ok(span: str) -> int:
    digits = _digits(span)
    if span.startswith(("+", "00")):
        return len(span) if 8 <= len(digits) <= 15 else 0
    if _DATE.match(span):
        return 0
    if _LOCAL7.fullmatch(span) and (span[0] in "01" or span.endswith("00")):
        # Exchanges start 2-9; "100-1000" or "250-1000" is a range, not a number.
        return 0
    return len(span) if len(digits) == 7 or 9 <= len(digits) <= 12 else 0


# --------------------------------------------------------------------------
# scanning


def _deny_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({" ".join(n.split()) for n in names if n and n.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split(" ")) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _candidates(text: str, deny_names: Iterable[str]) -> list[Hit]:
    found: list[Hit] = []

    def add(kind: str, pattern: re.Pattern[str], check: Callable[[str], int] | None = None) -> None:
        for m in pattern.finditer(text):
            span = m.group(0).rstrip(" .") if kind == "address" else m.group(0)
            length = len(span) if check is None else check(span)
            if length:
                found.append(Hit(kind, m.start(), m.start() + length, LABELS[kind]))

    add("email", _EMAIL)
    add("card", _CARD, _card_ok)
    add("iban", _IBAN, _iban_ok)
    add("ssn", _SSN)
    for pattern in _PHONE_PATTERNS:
        add("phone", pattern, _phone_ok)
    for pattern in _ADDRESS_PATTERNS:
        add("address", pattern)
    deny = _deny_pattern(deny_names)
    if deny is not None:
        add("name", deny)
    return found


def scan(text: str, deny_names: Iterable[str] = ()) -> list[Hit]:
    """Spans of ``text`` that look like real identifying data, in text order.

    Overlapping findings are merged by priority (email, card, IBAN, SSN,
    phone, address, deny-listed name): each character is reported at most
    once. ``deny_names`` match whole words, case-insensitively, with any
    whitespace between the words of a multi-word name.
    """
    priority = {kind: i for i, kind in enumerate(KINDS)}
    candidates = _candidates(text, deny_names)
    candidates.sort(key=lambda h: (priority[h.kind], h.start, -(h.end - h.start)))
    taken: list[Hit] = []
    for hit in candidates:
        if hit.end <= hit.start:
            continue
        if any(hit.start < t.end and t.start < hit.end for t in taken):
            continue
        taken.append(hit)
    return sorted(taken, key=lambda h: h.start)
