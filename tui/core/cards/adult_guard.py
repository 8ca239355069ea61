"""The content guard: every character in Candlelit is an adult.

``check_card`` refuses a card that states an age under 18 or describes the
character as a minor; what it can miss or misfire on is in
docs/ARCHITECTURE.md#scenes-cards-profiles.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tui.core.cards.card import Card, CardError

WHY_AGE = "states an age under 18"
WHY_MINOR = "describes a minor"

# Same length in and out, so match positions point into the original text.
_NORMALIZE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u202f": " ", "\u2007": " ",
})

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17,
}
# Longest first so "seventeen" is not read as "seven".
_WORDS = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_NUM = rf"(?<![\w.,'-])(?P<n>\d{{1,3}}|{_WORDS})"

# -- age patterns -------------------------------------------------------------
_AGE_YEARS_OLD = re.compile(
    _NUM + r"\s*(?:-\s*)?(?:years?|yrs?|yr)(?=[\s-])\s*(?:-\s*)?old\b"
    r"|" + _NUM.replace("?P<n>", "?P<n2>") + r"\s+years?\s+of\s+age\b"
    r"|" + _NUM.replace("?P<n>", "?P<n3>") + r"\s*(?:yo|y/o|y\.o\.?)(?![\w/-])",
    re.IGNORECASE,
)
_AGE_LABEL = re.compile(
    r"\bage(?:d)?(?=[\s:=-])\s*(?:[:=-]\s*)?(?:is\s+)?(?:about\s+|around\s+|only\s+|just\s+|roughly\s+)?"
    r"(?P<n>\d{1,3}|" + _WORDS + r")(?![\w])(?![.,]\d)",
    re.IGNORECASE,
)
_AGE_COPULA = (
    r"(?:\b(?:i\s+am|i'm|im|(?:she|he|NAMES)\s+(?:is|turns|turned)|(?:she|he)'s|just\s+turned)|"
    r"\{\{char\}\}\s+(?:is|turns|turned))\s+"
    r"(?:only\s+|just\s+|barely\s+|almost\s+|nearly\s+)?(?P<n>\d{1,2}|" + _WORDS + r")"
    r"(?=\s*(?:$|[.,;:!?)\]\"]|\band\b|\bbut\b|\bnow\b))"
)
_AGE_AFTER_NAME = (  # "Kit (14)", "{{char}} (age 15)"
    r"(?:\b(?:NAMES)|\{\{char\}\})\s*\(\s*(?:age[:\s]\s*|aged\s+)?(?P<n>\d{1,2}|" + _WORDS + r")\s*\)"
)

# -- minor words ----------------------------------------------------------------
_ALWAYS = re.compile(
    r"\b(?:loli(?:con)?|shota(?:con)?|under-?aged?|jailbait|pre-?pubescent|pre-?teens?)\b",
    re.IGNORECASE,
)
_FILLER_STOP = (
    r"of|her|his|their|my|your|our|its|to|with|for|from|like|about|than|that|who|whose|and|or|but|"
    r"has|have|had|in|on|at|by|as|not|former|ex|once|mother|father|mom|mum|dad|parent|teacher|nanny|"
    r"babysitter|guardian|caretaker|aunt|uncle"
)
_NOUNS_CLEAR = (
    r"teenager|teen|adolescent|school\s?girl|school\s?boy|pre-?teen|tween|toddler|infant|newborn|"
    r"(?:middle|high|grade|elementary|primary)[\s-]schooler|kindergartn?er|little\s+girl|little\s+boy|"
    r"young\s+girl|young\s+boy|youngster|loli|shota"
)
_NOUNS_AMBIGUOUS = r"minor|child|kid|baby|juvenile"  # also adjectives: "a minor noble"
_COPULA_NOUN = re.compile(
    r"(?:\b(?:is|am|are|remains|still)|'m|'re|(?<=\bshe)'s|(?<=\bhe)'s)\s+(?P<neg>not\s+|no\s+longer\s+|never\s+)?"
    rf"(?:(?!(?:{_FILLER_STOP})\b)[a-z'-]+\s+){{0,3}}?"
    rf"(?P<noun>{_NOUNS_CLEAR}|{_NOUNS_AMBIGUOUS})\b",
    re.IGNORECASE,
)
_CONNECTOR_AFTER = re.compile(
    r"\s*(?:$|[.,;:!?)\]\"']|(?:and|who|that|which|but|so|with|whose|named|called|living|"
    r"attending|going|in|at|from|now|yet)\b)",
    re.IGNORECASE,
)
# "an only child", "the middle child", "a wild child", "the new kid at work"...
_NOT_AN_AGE_BEFORE = re.compile(
    r"\b(?:only|middle|eldest|oldest|youngest|wild|love|problem|golden|poster|inner|flower|war|"
    r"foster|star|new|big|comeback|whiz|wonder)\s+(?:child|kid|baby)$",
    re.IGNORECASE,
)
_FIGURATIVE_AFTER = re.compile(
    r"\s*(?:at\s+heart|in\s+spirit|in\s+mind|inside|deep\s+down|in\s+a\s+(?:candy|toy)|"
    r"at\s+times|sometimes|when\s+it\s+comes|about)\b",
    re.IGNORECASE,
)
_SCHOOLKID = re.compile(
    r"\bschool[\s-]?(?:girl|boy)s?\b(?!\s+(?:crush|crushes|giggles?|days|years|french|charm|dreams?)\b)",
    re.IGNORECASE,
)
_TEEN_ADJ = re.compile(
    r"\b(?:teen(?:age|aged)?|adolescent|under-?aged?)\s+(?:girl|boy|student|schoolgirl|schoolboy|kid)\b",
    re.IGNORECASE,
)
_IN_TEENS = re.compile(
    r"\b(?:is|am|'m|are|'re)\s+(?:still\s+|only\s+)?in\s+(?:her|his|their|my|your)\s+"
    r"(?:early\s+|mid\s+|mid-)?teens\b",
    re.IGNORECASE,
)
_SCHOOL = re.compile(
    r"\b(?P<school>(?:middle|junior\s+high|elementary|primary|grade|high)[\s-]school)"
    r"(?P<after>\s+(?:student|pupil|girl|boy|kid|freshman|sophomore|junior|senior)s?\b)?",
    re.IGNORECASE,
)
_SCHOOL_BEFORE = re.compile(
    r"(?:(?:\b(?:is|am|are|currently|still)|'m|'re|(?<=\bshe)'s|(?<=\bhe)'s)\s+in|\battends|\battending|"
    r"\bgoes\s+to|\b(?:freshman|sophomore|junior|senior|pupil)\s+(?:in|at)|"
    r"\bgoing\s+to|\benrolled\s+(?:in|at)|\bstudent\s+(?:at|in)|\bstudies\s+at|\bstudying\s+at|"
    r"\b(?:first|second|third|1st|2nd|3rd)[\s-]year\s+(?:student\s+)?(?:in|at|of))"
    r"\s+(?:the\s+|a\s+|an\s+|her\s+|his\s+|their\s+|my\s+|your\s+)?(?:local\s+|nearby\s+|new\s+|[a-z]+\s+)?$",
    re.IGNORECASE,
)
_ORDINALS = (
    r"1st|2nd|3rd|[4-9]th|1[0-2]th|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
    r"tenth|eleventh|twelfth"
)
_GRADE = re.compile(
    rf"\b(?:is|am|'m|are|'re|currently|still)\s+in\s+(?:the\s+)?(?:{_ORDINALS})\s+grade\b"
    rf"|\b(?:{_ORDINALS})[\s-]grader\b",
    re.IGNORECASE,
)

# -- context ----------------------------------------------------------------------
_RELATIVES = frozenset("""
    daughter daughters son sons child children kid kids baby babies sister sisters brother brothers
    sibling siblings niece nieces nephew nephews cousin cousins grandson granddaughter grandchild
    grandchildren stepdaughter stepson stepchild student students pupil pupils ward wards charge
    charges self selves offspring
""".split())
_OBJECTS = frozenset("""
    dog dogs cat cats horse horses pony pet pets car truck bike whisky whiskey scotch wine bourbon
    rum brandy cheese bottle bottles house home building tree trees oak tradition grudge secret photo
    photograph letter book books diary recipe company business shop sword blade violin piano guitar
    ship boat mansion castle farm tower game record sweater coat jacket
""".split())
_POSSESSIVES = frozenset("her his their my your our its whose".split())
_SUBJECT_CONTEXT = frozenset("""
    has have had having with raising raises raised adopted adopt mother father mom mum dad parent
    parents teaches teach teaching teacher tutor tutors nanny babysits babysitting babysitter
    works working worked job principal coach counselor counsellor nurse janitor staff employed
    guardian caretaker aunt uncle
""".split())
_NEGATIONS = frozenset("not no never non nor without isn't isnt aren't arent wasn't nobody none".split())
_PRONOUN_S = frozenset("she's he's it's that's who's there's what's where's here's".split())
_BACKSTORY = re.compile(
    r"\b(?:when|since|until|till|after|before|ago|back\s+then|at\s+age|at\s+the\s+age|used\s+to|"
    r"as\s+an?|during|by\s+the\s+time|remembers?|recalls?|flashback|former|formerly|once)\b",
    re.IGNORECASE,
)
_BACKSTORY_AFTER = re.compile(
    r"\s*,?\s*(?:when|at\s+the\s+time|back\s+then|ago|years\s+ago|in\s+(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z'{}]+", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[.!?;\n]")


class ContentRefused(CardError):
    """A card refused by the guard; ``reasons`` say which field and words."""

    def __init__(self, message: str, reasons: list[GuardReason]) -> None:
        super().__init__(message)
        self.reasons = reasons


@dataclass(frozen=True)
class GuardReason:
    field: str  # "description", "alternate_greetings #2", "tags", ...
    phrase: str  # the words as written in the card
    why: str  # WHY_AGE or WHY_MINOR

    def __str__(self) -> str:
        return f'{self.field}: "{self.phrase}" ({self.why})'


# --------------------------------------------------------------------------
# context helpers


def _words_before(text: str, start: int, n: int = 4) -> list[str]:
    window = text[max(0, start - 80):start]
    cut = max((m.end() for m in _CLAUSE_BREAK.finditer(window)), default=0)
    return [w.lower() for w in _WORD.findall(window[cut:])][-n:]


def _word_after(text: str, end: int) -> str:
    m = _WORD.match(text[end:end + 40].lstrip(" -"))
    return m.group(0).lower() if m else ""


def _clause_before(text: str, start: int) -> str:
    window = text[max(0, start - 100):start]
    cut = max((m.end() for m in _CLAUSE_BREAK.finditer(window)), default=0)
    return window[cut:]


def _about_someone_else(words: list[str]) -> bool:
    for w in words:
        if w in _POSSESSIVES or w in _RELATIVES or w in _SUBJECT_CONTEXT or w in _OBJECTS:
            return True
        if w.endswith("'s") and w not in _PRONOUN_S and w != "{{char}}'s":
            return True
    return False


def _negated(words: list[str]) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in words[-3:])


def _in_backstory(text: str, start: int, end: int) -> bool:
    """Past or someone else's past: "when she was 12 years old", "at age 9"."""
    return bool(_BACKSTORY.search(_clause_before(text, start) + text[start:end])) or bool(
        _BACKSTORY_AFTER.match(text, end)
    )


def _age_value(m: re.Match[str]) -> int | None:
    raw = next((g for g in (m.groupdict().get(k) for k in ("n", "n2", "n3")) if g), None)
    if raw is None:
        return None
    raw = raw.lower()
    if raw.isdigit():
        return int(raw)
    return _NUMBER_WORDS.get(raw)


def _is_minor_age(m: re.Match[str]) -> bool:
    value = _age_value(m)
    return value is not None and 1 <= value < 18


# --------------------------------------------------------------------------
# checks


# A scan only runs when a word it cannot match without is in the text: a
# field of a million digits or letters then skips them (linear either way).
_NEEDS: dict[re.Pattern[str], tuple[str, ...]] = {
    _AGE_YEARS_OLD: ("yr", "year", "yo", "y/o", "y.o"),
    _AGE_LABEL: ("age",),
    _ALWAYS: ("loli", "shota", "under", "jailbait", "pubescent", "teen"),
    _COPULA_NOUN: (
        "teen", "adolescent", "school", "tween", "toddler", "infant", "newborn", "kindergart", "little",
        "young", "loli", "shota", "minor", "child", "kid", "baby", "juvenile",
    ),
    _SCHOOLKID: ("school",),
    _TEEN_ADJ: ("teen", "adolescent", "under"),
    _IN_TEENS: ("teens",),
    _SCHOOL: ("school",),
    _GRADE: ("grade",),
}


def _scan(pattern: re.Pattern[str], text: str, low: str) -> Iterator[re.Match[str]]:
    if any(w in low for w in _NEEDS.get(pattern, ("",))):
        yield from pattern.finditer(text)


def _age_hits(text: str, names: tuple[str, ...]) -> list[tuple[int, int]]:
    hits: list[tuple[int, int]] = []
    low = text.casefold()  # what IGNORECASE also matches (long s, Kelvin sign)
    for m in _scan(_AGE_YEARS_OLD, text, low):
        if not _is_minor_age(m):
            continue
        before = _words_before(text, m.start())
        if _about_someone_else(before[-3:]) or _negated(before):
            continue
        if _word_after(text, m.end()) in _RELATIVES | _OBJECTS:
            continue
        if _in_backstory(text, m.start(), m.end()):
            continue
        hits.append(m.span())
    for m in _scan(_AGE_LABEL, text, low):
        if not _is_minor_age(m):
            continue
        before = _words_before(text, m.start(), 3)
        if _about_someone_else(before) or _word_after(text, m.end()) in _RELATIVES | _OBJECTS:
            continue
        if _in_backstory(text, m.start(), m.end()):
            continue
        hits.append(m.span())
    name_alts = "|".join(re.escape(n) for n in names) or r"(?!x)x"
    copula = re.compile(_AGE_COPULA.replace("NAMES", name_alts), re.IGNORECASE)
    paren = re.compile(_AGE_AFTER_NAME.replace("NAMES", name_alts), re.IGNORECASE)
    for m in paren.finditer(text):
        if _is_minor_age(m):
            hits.append(m.span())
    for m in copula.finditer(text):
        if not _is_minor_age(m) or m.group("n").lower() == "one":  # "he is one." is ambiguous
            continue
        if _about_someone_else(_words_before(text, m.start(), 3)):
            continue
        if _BACKSTORY_AFTER.match(text, m.end()):
            continue
        hits.append(m.span())
    return hits


def _minor_hits(text: str) -> list[tuple[int, int]]:
    hits: list[tuple[int, int]] = []
    low = text.casefold()  # what IGNORECASE also matches (long s, Kelvin sign)
    for m in _scan(_ALWAYS, text, low):
        if not _negated(_words_before(text, m.start())):
            hits.append(m.span())
    for m in _scan(_COPULA_NOUN, text, low):
        if m.group("neg"):
            continue
        noun = m.group("noun").lower()
        before = _words_before(text, m.start())
        if _about_someone_else(before) or _negated(before):
            continue
        if _FIGURATIVE_AFTER.match(text, m.end()) or _NOT_AN_AGE_BEFORE.search(m.group(0)):
            continue
        if re.fullmatch(_NOUNS_AMBIGUOUS, noun) and not _CONNECTOR_AFTER.match(text, m.end()):
            continue  # an adjective: "a minor noble", "a child prodigy"
        hits.append(m.span())
    for m in _scan(_SCHOOLKID, text, low):
        before = _words_before(text, m.start())
        if _about_someone_else(before) or _negated(before) or _in_backstory(text, m.start(), m.end()):
            continue
        hits.append(m.span())
    for m in _scan(_TEEN_ADJ, text, low):
        before = _words_before(text, m.start())
        if _about_someone_else(before) or _negated(before) or _in_backstory(text, m.start(), m.end()):
            continue
        hits.append(m.span())
    for m in _scan(_IN_TEENS, text, low):
        if not _about_someone_else(_words_before(text, m.start(), 3)):
            hits.append(m.span())
    for m in _scan(_SCHOOL, text, low):
        clause = _clause_before(text, m.start())
        before = [w.lower() for w in _WORD.findall(clause)]
        student = bool(m.group("after")) or bool(_SCHOOL_BEFORE.search(clause))
        if not student:
            continue
        if _about_someone_else(before[-5:]) or _negated(before) or _in_backstory(text, m.start(), m.end()):
            continue
        start = m.start()
        lead = _SCHOOL_BEFORE.search(clause)
        if lead and not m.group("after"):
            start = m.start() - (len(clause) - lead.start())
        hits.append((start, m.end()))
    for m in _scan(_GRADE, text, low):
        before = _words_before(text, m.start())
        if _about_someone_else(before) or _negated(before) or _in_backstory(text, m.start(), m.end()):
            continue
        hits.append(m.span())
    return hits


_TAGS = frozenset("""
    loli lolicon shota shotacon underage under-age minor minors child children kid kids teen teens
    teenager teenagers preteen pre-teen schoolgirl schoolboy jailbait toddler
""".split()) | {"middle school", "high school student", "little girl", "little boy", "young girl",
                "young boy", "school girl", "school boy", "jk"}


_RUN = re.compile(r"\s{2,}")


def _collapse(text: str) -> tuple[str, Callable[[int], int]]:
    """``text`` with every whitespace run as one space (a newline if it held
    one: clauses still end there), and a map from its positions back to
    ``text``'s. Every pattern reads a run of whitespace as ``\\s`` once or
    more, so they match the same; a megabyte of spaces then costs nothing."""
    parts: list[str] = []
    short, orig = [0], [0]      # a collapsed run ends at short[i], which is orig[i] in text
    last = size = 0
    for m in _RUN.finditer(text):
        parts.append(text[last:m.start()])
        parts.append("\n" if "\n" in m.group() else " ")
        size += m.start() - last + 1
        last = m.end()
        short.append(size)
        orig.append(last)
    if len(short) == 1:
        return text, lambda i: i
    parts.append(text[last:])

    def back(i: int) -> int:
        k = bisect.bisect_right(short, i) - 1
        return orig[k] + (i - short[k])

    return "".join(parts), back


def check_text(text: str, names: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``(phrase, why)`` for every hit in ``text``, in order of position.

    Linear in the text: whitespace runs are collapsed first and the scans
    are single-whitespace forms (a 1,000,000-character field checks in
    milliseconds to about a second; bench/adult_guard.py)."""
    if not text:
        return []
    norm, back = _collapse(text.translate(_NORMALIZE))
    found: dict[tuple[int, int], str] = {}
    for a, b in _age_hits(norm, names):
        found.setdefault((back(a), back(b)), WHY_AGE)
    for a, b in _minor_hits(norm):
        found.setdefault((back(a), back(b)), WHY_MINOR)
    out: list[tuple[str, str]] = []
    last_end = -1
    for (start, end), why in sorted(found.items()):
        if start < last_end:
            continue  # overlapping hits: keep the first
        out.append((" ".join(text[start:end].split()), why))
        last_end = end
    return out


def _card_names(card: Card) -> tuple[str, ...]:
    names: set[str] = set()
    for value in (card.name, card.nickname):
        value = value.strip()
        if not value:
            continue
        names.add(value)
        names.update(w for w in re.findall(r"[^\W\d_]{3,}", value))
    return tuple(sorted(names, key=len, reverse=True))


def check_card(card: Card) -> list[GuardReason]:
    """Every reason to refuse ``card``; empty when it passes."""
    names = _card_names(card)
    fields: list[tuple[str, str]] = [
        ("name", card.name), ("nickname", card.nickname), ("description", card.description),
        ("personality", card.personality), ("scenario", card.scenario),
        ("first_mes", card.first_mes), ("mes_example", card.mes_example),
    ]
    fields += [(f"alternate_greetings #{i}", g) for i, g in enumerate(card.alternate_greetings, 1)]
    fields += [(f"group_only_greetings #{i}", g) for i, g in enumerate(card.group_only_greetings, 1)]
    reasons: list[GuardReason] = []
    seen: set[tuple[str, str]] = set()
    for name, text in fields:
        for phrase, why in check_text(text, names):
            key = (name, phrase.lower())
            if key not in seen:
                seen.add(key)
                reasons.append(GuardReason(name, phrase, why))
    for tag in card.tags:
        norm = " ".join(tag.translate(_NORMALIZE).lower().replace("_", " ").split())
        hit = norm in _TAGS or check_text(tag)
        if hit and ("tags", norm) not in seen:
            seen.add(("tags", norm))
            reasons.append(GuardReason("tags", tag.strip(), WHY_MINOR))
    return reasons


def refusal_message(source: str, reasons: list[GuardReason], limit: int = 3) -> str:
    """One line: which file, which fields and words, and how to fix it."""
    shown = "; ".join(str(r) for r in reasons[:limit])
    more = f"; and {len(reasons) - limit} more" if len(reasons) > limit else ""
    return (
        f"{source}: refused, every character must be an adult. {shown}{more}. "
        "This check reads keywords and can misread a card: if the character is an adult, "
        "edit those words in the file and import it again"
    )


def guard_card(card: Card, source: str = "<card>") -> None:
    """Raise :class:`ContentRefused` if ``check_card`` finds anything."""
    reasons = check_card(card)
    if reasons:
        raise ContentRefused(refusal_message(source, reasons), reasons)
