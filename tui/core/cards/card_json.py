"""Card JSON (V1, V2, V3 or our own) read under the size, depth and Unicode limits, and written as V3."""

from __future__ import annotations

import json
import re
from typing import Any

from tui.core.cards.card import FORMAT_VERSION, SPEC_V3, Card, CardError, card_to_v3, parse_card
from tui.core.cards.file_types import CardFileError, one_line
from tui.core.fsio import size_text

MAX_JSON_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_NAME_CHARS = 1_000
MAX_FIELD_CHARS = 1_000_000

_TEXT_FIELDS = (
    "description", "personality", "scenario", "first_mes", "mes_example", "creator_notes",
    "system_prompt", "post_history_instructions", "creator", "character_version", "nickname",
)
_LIST_FIELDS = ("alternate_greetings", "group_only_greetings", "tags")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def card_from_json_bytes(data: bytes, source: str, what: str) -> tuple[Card, list[str]]:
    """Decode, parse and check card JSON; ``what`` names where it came from."""
    if len(data) > MAX_JSON_BYTES:
        raise CardFileError(
            f"{source}: the card JSON is too large ({size_text(len(data))}; the limit is {size_text(MAX_JSON_BYTES)})"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardFileError(
            f"{source}: {what} is not valid UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return _parse_json_text(text, source)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a card")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def card_from_json_text(text: str, source: str = "<card>") -> Card:
    """Parse card JSON text (V1/V2/V3 or our own) under the limits above."""
    return _parse_json_text(text, source)[0]


def _parse_json_text(text: str, source: str) -> tuple[Card, list[str]]:
    if len(text) > MAX_JSON_BYTES:
        raise CardFileError(f"{source}: the card JSON is too large (the limit is {size_text(MAX_JSON_BYTES)})")
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise CardFileError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise CardFileError(f"{source}: the JSON is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # NaN/Infinity, giant integers
        raise CardFileError(f"{source}: not valid card JSON ({one_line(str(exc))})") from None
    if not isinstance(obj, dict):
        raise CardFileError(f"{source}: expected a JSON object, got {_kind(obj)}")
    _check_tree(obj, source)
    version = obj.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and "data" in obj:
        if version > FORMAT_VERSION:
            raise CardFileError(
                f"{source}: written by a newer Candlelit (card format {version}); please upgrade"
            )
        del obj["version"]
    warnings = _spec_warnings(obj, source)
    try:
        card = parse_card(obj, source)
    except CardFileError:
        raise
    except CardError as exc:  # wrong types, missing name: same message, one class
        raise CardFileError(str(exc)) from None
    check_card_limits(card, source)
    return card, warnings


def _check_tree(obj: Any, source: str) -> None:
    """Depth limit and no lone surrogates, without recursion."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CardFileError(
                f"{source}: the JSON is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)"
            )
        if isinstance(node, dict):
            for key, value in node.items():
                if _SURROGATE.search(key):
                    raise CardFileError(f"{source}: the JSON has invalid Unicode (a lone surrogate) in a key")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise CardFileError(f"{source}: the JSON has invalid Unicode (a lone surrogate) in a text value")


def check_card_limits(card: Card, source: str = "<card>") -> None:
    """Refuse names and fields over the documented length limits."""
    if len(card.name) > MAX_NAME_CHARS:
        raise CardFileError(
            f"{source}: the name is too long ({len(card.name):,} characters; the limit is {MAX_NAME_CHARS:,})"
        )
    for key in _TEXT_FIELDS:
        value = getattr(card, key)
        if len(value) > MAX_FIELD_CHARS:
            raise CardFileError(
                f"{source}: field '{key}' is too long ({len(value):,} characters; "
                f"the limit is {MAX_FIELD_CHARS:,})"
            )
    for key in _LIST_FIELDS:
        for i, value in enumerate(getattr(card, key), 1):
            if len(value) > MAX_FIELD_CHARS:
                raise CardFileError(
                    f"{source}: item {i} of '{key}' is too long ({len(value):,} characters; "
                    f"the limit is {MAX_FIELD_CHARS:,})"
                )


def card_to_json_bytes(card: Card) -> bytes:
    """The card as a V3 JSON file (what ``export --format json`` writes)."""
    return (json.dumps(card_to_v3(card), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def compact_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _spec_warnings(obj: dict[str, Any], source: str) -> list[str]:
    """A V3 card made for a newer spec still imports, with a warning."""
    if obj.get("spec") != SPEC_V3:
        return []
    version = obj.get("spec_version")
    try:
        number = float(version) if isinstance(version, (str, int, float)) else 3.0
    except (ValueError, OverflowError):
        return []
    if number > 3.0:
        return [f"{source}: made for a newer card spec ({version}); features it adds are ignored"]
    return []


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "null" if value is None else type(value).__name__
