"""SillyTavern timestamps (milliseconds, ISO text, the older humanized forms) and our ISO stamps."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_MERIDIEM = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2}),\s*(\d{4})\s+(\d{1,2}):(\d{1,2})\s*([ap]m)", re.IGNORECASE)
_HUMANIZED = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})\s*@\s*(\d{1,2})h\s*(\d{1,2})m\s*(\d{1,2})s(?:\s*(\d{1,3})ms)?"
)


def parse_st_time(value: Any) -> datetime | None:
    """A SillyTavern timestamp as an aware datetime, or None if unreadable.

    Numbers (and digit strings) are milliseconds since 1970, as SillyTavern
    reads them; ISO text keeps its zone (local time when it has none); the
    humanized forms are local time, which is how SillyTavern wrote them."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            return None
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        dt = None
    if dt is not None:
        return dt if dt.tzinfo else dt.astimezone()
    try:
        m = _MERIDIEM.search(text)
        if m:
            month = _MONTHS.get(m.group(1)[:3].lower())
            if month is None:
                return None
            hour = int(m.group(4)) % 12 + (12 if m.group(6).lower() == "pm" else 0)
            return datetime(int(m.group(3)), month, int(m.group(2)), hour, int(m.group(5))).astimezone()
        m = _HUMANIZED.search(text)
        if m:
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            ms = int(m.group(7).ljust(3, "0")) if m.group(7) else 0
            return datetime(y, mo, d, h, mi, s, ms * 1000).astimezone()
    except (ValueError, OverflowError, OSError):
        return None
    return None


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(stamp: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
