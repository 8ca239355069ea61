"""Local-only usage stats and opt-in, gentle reminders.

``record_session`` appends one JSON line per chat session to a stats file
(mode 0600, through ``tui.core.fsio``): when it started, when it ended and
how many messages were sent. Never any text, names or chat ids, and the file
is never sent anywhere. ``daily`` sums it into minutes and messages per day
for a Stats screen.

``reminder_due`` supports two reminders a user may switch on per profile:
after a chosen session length, and late at night. They are worded as an
invitation, never a judgement; there are no streaks, goals or scores, and
nothing here is designed to make anyone use the app more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from tui.core.errors import CandlelitError
from tui.core.fsio import append_line, as_path, ensure_dir
from tui.core.storage.store import Store

__all__ = [
    "DayStats",
    "ReminderSettings",
    "StatsError",
    "daily",
    "record_session",
    "reminder_due",
]

STATS_VERSION = 1


class StatsError(CandlelitError):
    """A usage-stats value that cannot be recorded; ``str()`` is one line."""


@dataclass(frozen=True)
class DayStats:
    """Time in chats and messages sent on one local calendar day."""

    day: date
    minutes: float
    messages: int
    sessions: int


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    """An aware datetime in ``tz`` (local time when None); naive means local."""
    if moment.tzinfo is None:
        moment = moment.astimezone()  # interpret as local wall time
    return moment.astimezone(tz)


def record_session(stats_file: Path, started: datetime, ended: datetime, messages: int) -> None:
    """Append one session (timestamps and a count only) to ``stats_file``."""
    if isinstance(messages, bool) or not isinstance(messages, int) or messages < 0:
        raise StatsError(f"message count must be a whole number of at least 0, not {messages!r}")
    start = _local(started, None)
    end = _local(ended, None)
    if end < start:
        raise StatsError("a session cannot end before it starts")
    stats_file = as_path(stats_file)
    ensure_dir(stats_file.parent)
    line = json.dumps(
        {
            "v": STATS_VERSION,
            "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds"),
            "messages": messages,
        },
        separators=(",", ":"),
    )
    append_line(stats_file, line)


def messages_sent_since(store: Store, since: datetime) -> int:
    """How many messages you sent (role "user") since ``since``, any chat."""
    stamp = since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    count = 0
    try:
        chats = store.list_chats()
    except Exception:  # noqa: BLE001 - stats are best effort
        return 0
    for chat in chats:
        if chat.updated < stamp:
            continue
        try:
            msgs, _ = store.messages(chat.id)
        except Exception:  # noqa: BLE001
            continue
        count += sum(1 for m in msgs if m.role == "user" and m.created >= stamp)
    return count


def _read(stats_file: Path) -> list[tuple[datetime, datetime, int]]:
    try:
        raw = as_path(stats_file).read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:  # unreadable, or an encrypted file that was changed
        raise StatsError(f"cannot read the usage stats: {exc.strerror or exc}") from None
    sessions = []
    for line in raw.splitlines():
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or obj.get("v", 0) > STATS_VERSION:
                continue
            start = datetime.fromisoformat(obj["start"])
            end = datetime.fromisoformat(obj["end"])
            count = obj["messages"]
        except (ValueError, KeyError, TypeError, RecursionError):
            continue  # a torn or foreign line: stats are best effort
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0 and end >= start:
            sessions.append((start, end, count))
    return sessions


def daily(stats_file: Path, tz: tzinfo | None = None) -> list[DayStats]:
    """Minutes, messages and sessions per local day, oldest first.

    A session that runs past midnight counts its minutes on each day it
    touched; its messages count on the day it started. Unreadable lines
    are skipped.
    """
    seconds: dict[date, float] = {}
    messages: dict[date, int] = {}
    sessions: dict[date, int] = {}
    for started, ended, count in _read(stats_file):
        start = _local(started, tz)
        end = _local(ended, tz)
        first = start.date()
        messages[first] = messages.get(first, 0) + count
        sessions[first] = sessions.get(first, 0) + 1
        seconds.setdefault(first, 0.0)
        cursor = start
        while cursor < end:
            midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), cursor.tzinfo)
            stop = min(end, midnight)
            day = cursor.date()
            seconds[day] = seconds.get(day, 0.0) + (stop - cursor).total_seconds()
            cursor = stop
    return [
        DayStats(
            day=day,
            minutes=round(seconds[day] / 60.0, 1),
            messages=messages.get(day, 0),
            sessions=sessions.get(day, 0),
        )
        for day in sorted(seconds)
    ]


# --------------------------------------------------------------------------
# reminders


@dataclass(frozen=True)
class ReminderSettings:
    """Opt-in reminders; everything is off by default.

    ``session_minutes``: remind after this long in one session (None: off).
    ``late_night``: remind when a session runs between ``night_start`` and
    ``night_end`` (local wall-clock hours, wrapping past midnight).
    ``repeat_minutes``: at most one reminder per this many minutes.
    """

    session_minutes: int | None = None
    late_night: bool = False
    night_start: time = time(23, 0)
    night_end: time = time(5, 0)
    repeat_minutes: int = 60

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ReminderSettings:
        """Build from a config table, e.g. ``{"session_minutes": 90, "late_night": true}``."""
        minutes = raw.get("session_minutes")
        if minutes is not None and not _positive_int(minutes):
            raise StatsError("session_minutes must be a whole number of minutes above 0")
        repeat = raw.get("repeat_minutes", 60)
        if not _positive_int(repeat):
            raise StatsError("repeat_minutes must be a whole number of minutes above 0")
        return cls(
            session_minutes=minutes,
            late_night=bool(raw.get("late_night", False)),
            night_start=_clock(raw.get("night_start", "23:00"), "night_start"),
            night_end=_clock(raw.get("night_end", "05:00"), "night_end"),
            repeat_minutes=repeat,
        )


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _clock(value: object, name: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise StatsError(f"{name} must be a time of day like \"23:00\", not {value!r}")


def _in_night(now: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


def _duration(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    if hours:
        return f"{hours} h"
    return f"{mins} min"


def reminder_due(
    settings: ReminderSettings,
    session_started: datetime,
    now: datetime,
    last_reminder: datetime | None = None,
) -> str | None:
    """A gentle reminder to show now, or None.

    Pass the time the previous reminder was shown as ``last_reminder`` so
    reminders come at most once per ``repeat_minutes``.
    """
    quiet = timedelta(minutes=settings.repeat_minutes)
    if last_reminder is not None and now - last_reminder < quiet:
        return None
    if settings.late_night and _in_night(now.time(), settings.night_start, settings.night_end):
        return (
            f"It's {now:%H:%M}. Your story will keep until tomorrow, "
            "if you'd like to rest. (You can turn this reminder off in settings.)"
        )
    if settings.session_minutes is not None:
        elapsed = int((now - session_started).total_seconds() // 60)
        if elapsed >= settings.session_minutes:
            return (
                f"You've been writing for {_duration(elapsed)}. A stretch or a glass "
                "of water might feel good; the story will be right here. "
                "(You can turn this reminder off in settings.)"
            )
    return None
