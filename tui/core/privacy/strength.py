"""How guessable a new passphrase looks: a hint, never a refusal.

A small local estimate (no word lists downloaded, nothing sent anywhere):
the characters' pool and the length, with repeats, keyboard and alphabet
runs and the most common passwords counted as worth almost nothing, and a
phrase of words counted at most ~11 bits a word (what a random word from a
2,000-word list gives; a phrase people make up is weaker still). Below
``WEAK_BITS`` the CLI and the app show a hint. age's scrypt makes each guess
cost about a second of one core, which is why ~50 bits is a sane floor.
"""

from __future__ import annotations

import math
import re

WEAK_BITS = 50
_COMMON = frozenset("""
    password passw0rd 123456 12345678 123456789 1234567890 qwerty qwertyuiop azerty letmein iloveyou
    admin welcome monkey dragon sunshine princess football baseball trustno1 secret abc123 111111
    000000 changeme candlelit love lover sex master shadow superman batman
""".split())
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "abcdefghijklmnopqrstuvwxyz")


def _runs(text: str) -> str:
    """Drop characters that only continue a repeat or a sequence (aaaa, abcd, 4321, qwer)."""
    out: list[str] = []
    for i, ch in enumerate(text):
        if i >= 2:
            a, b, c = text[i - 2], text[i - 1], ch
            if a == b == c:
                continue
            low = (a + b + c).lower()
            if any(low in row or low in row[::-1] for row in _ROWS):
                continue
        out.append(ch)
    return "".join(out)


def estimate_bits(passphrase: str) -> float:
    text = passphrase.strip()
    if not text:
        return 0.0
    if text.lower() in _COMMON or re.sub(r"\d+$", "", text.lower()) in _COMMON:
        return 10.0
    pool = 0
    if re.search(r"[a-z]", text):
        pool += 26
    if re.search(r"[A-Z]", text):
        pool += 26
    if re.search(r"\d", text):
        pool += 10
    if re.search(r"[^A-Za-z0-9\s]", text):
        pool += 33
    if re.search(r"\s", text):
        pool += 1
    if re.search(r"[^\x00-\x7f]", text):
        pool += 100
    bits = len(_runs(text)) * math.log2(max(pool, 2))
    words = [w for w in re.split(r"[\s\-_.]+", text) if w]
    if len(words) >= 3 and all(w.isalpha() for w in words):
        bits = min(bits, 11.0 * len(words))
    return bits


def passphrase_hint(passphrase: str) -> str | None:
    """One line saying the passphrase looks weak, or None when it looks fine."""
    bits = estimate_bits(passphrase)
    if bits >= WEAK_BITS:
        return None
    return (
        f"this passphrase looks easy to guess (about {bits:.0f} bits; aim for {WEAK_BITS}+): "
        "five or more unusual words, or 12+ mixed characters, are much harder to guess"
    )
