"""Behaviour of tui.core.profile.usage_stats: private JSONL with timestamps and
counts only, per-day sums, and gentle opt-in reminders."""

from __future__ import annotations

import json
import stat
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from tui.core.profile.usage_stats import (
    DayStats,
    ReminderSettings,
    StatsError,
    daily,
    record_session,
    reminder_due,
)

TZ = timezone(timedelta(hours=2))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=TZ)


def test_record_writes_private_jsonl_with_counts_only(tmp_path):
    stats = tmp_path / "profile" / "stats" / "usage.jsonl"
    record_session(stats, at(1, 20), at(1, 21, 30), 14)
    record_session(stats, at(2, 9), at(2, 9, 10), 0)
    assert stat.S_IMODE(stats.stat().st_mode) == 0o600
    assert stat.S_IMODE(stats.parent.stat().st_mode) == 0o700
    lines = stats.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert set(json.loads(line)) == {"v", "start", "end", "messages"}
    first = json.loads(lines[0])
    assert first["messages"] == 14
    assert datetime.fromisoformat(first["start"]) == at(1, 20)


def test_daily_sums_minutes_messages_and_sessions(tmp_path):
    stats = tmp_path / "usage.jsonl"
    record_session(stats, at(1, 20), at(1, 21, 30), 14)
    record_session(stats, at(1, 22), at(1, 22, 15), 3)
    record_session(stats, at(3, 8), at(3, 8, 45), 7)
    assert daily(stats, TZ) == [
        DayStats(date(2024, 5, 1), 105.0, 17, 2),
        DayStats(date(2024, 5, 3), 45.0, 7, 1),
    ]


def test_session_past_midnight_splits_minutes(tmp_path):
    stats = tmp_path / "usage.jsonl"
    record_session(stats, at(1, 23, 30), at(2, 0, 45), 9)
    days = daily(stats, TZ)
    assert [(d.day.day, d.minutes, d.messages, d.sessions) for d in days] == [(1, 30.0, 9, 1), (2, 45.0, 0, 0)]


def test_days_follow_the_requested_time_zone(tmp_path):
    stats = tmp_path / "usage.jsonl"
    record_session(stats, at(1, 1), at(1, 1, 30), 2)  # 01:00 at +02:00 is 23:00 UTC the day before
    assert [d.day for d in daily(stats, UTC)] == [date(2024, 4, 30)]
    assert [d.day for d in daily(stats, TZ)] == [date(2024, 5, 1)]


def test_missing_and_damaged_files(tmp_path):
    stats = tmp_path / "usage.jsonl"
    assert daily(stats) == []
    record_session(stats, at(1, 10), at(1, 10, 20), 4)
    with stats.open("a") as f:
        f.write("not json\n")
        f.write('{"v": 1, "start": "yesterday", "end": "today", "messages": 2}\n')
        f.write('{"v": 99, "start": "2024-05-01T10:00:00+02:00", "end": "2024-05-01T11:00:00+02:00", "messages": 1}\n')
        f.write('{"v": 1, "start": "2024-05-01T10:00:00+02:00", "end": "2024-05-01T11:00:00+02:00", "messages": -3}\n')
        f.write('{"v": 1, "start": "2024-05-01T1')
    assert daily(stats, TZ) == [DayStats(date(2024, 5, 1), 20.0, 4, 1)]


@pytest.mark.parametrize(
    "started, ended, messages",
    [(at(1, 10), at(1, 9), 1), (at(1, 10), at(1, 11), -1), (at(1, 10), at(1, 11), True), (at(1, 10), at(1, 11), 2.5)],
)
def test_invalid_sessions_are_refused(tmp_path, started, ended, messages):
    stats = tmp_path / "usage.jsonl"
    with pytest.raises(StatsError):
        record_session(stats, started, ended, messages)
    assert not stats.exists()


# --------------------------------------------------------------------------
# reminders


def test_reminders_are_off_by_default():
    assert reminder_due(ReminderSettings(), at(1, 20), at(2, 3)) is None


def test_session_length_reminder_is_gentle():
    settings = ReminderSettings(session_minutes=90)
    assert reminder_due(settings, at(1, 18), at(1, 19, 29)) is None
    text = reminder_due(settings, at(1, 18), at(1, 19, 30))
    assert text is not None and "1 h 30 min" in text
    for pushy in ("streak", "too long", "should", "!"):
        assert pushy not in text.lower()


def test_reminders_repeat_at_most_once_per_interval():
    settings = ReminderSettings(session_minutes=30, repeat_minutes=45)
    shown = at(1, 18, 30)
    assert reminder_due(settings, at(1, 18), at(1, 19), last_reminder=shown) is None
    assert reminder_due(settings, at(1, 18), at(1, 19, 15), last_reminder=shown) is not None


def test_late_night_window_wraps_past_midnight():
    settings = ReminderSettings(late_night=True, night_start=time(23, 0), night_end=time(5, 0))
    assert reminder_due(settings, at(1, 22), at(1, 22, 59)) is None
    late = reminder_due(settings, at(1, 22), at(1, 23, 40))
    assert late is not None and "23:40" in late
    assert reminder_due(settings, at(1, 22), at(2, 4, 59)) is not None
    assert reminder_due(settings, at(2, 4), at(2, 5, 0)) is None


def test_settings_from_mapping_validates():
    s = ReminderSettings.from_mapping({"session_minutes": 60, "late_night": True, "night_start": "22:30"})
    assert s == ReminderSettings(session_minutes=60, late_night=True, night_start=time(22, 30))
    for bad in ({"session_minutes": 0}, {"session_minutes": "60"}, {"night_end": "late"}, {"repeat_minutes": -1}):
        with pytest.raises(StatsError):
            ReminderSettings.from_mapping(bad)


# -- what the app records on exit (moved here from the app) -------------------


def _chat_with_lines(store, *roles: str) -> str:
    from tui.core.storage.model import Message

    info = store.new_chat(["mara"], ["You"])
    for role in roles:
        store.append(info.id, Message.new("You" if role == "user" else "Mara", role, f"a {role} line"))
    return info.id


def test_messages_sent_since_counts_your_lines_in_every_chat(tmp_path):
    from tui.core.profile.usage_stats import messages_sent_since
    from tui.core.storage.store import Store

    store = Store(tmp_path)
    before = datetime.now(UTC) - timedelta(seconds=5)
    _chat_with_lines(store, "user", "assistant", "user")
    _chat_with_lines(store, "assistant", "user")
    assert messages_sent_since(store, before) == 3
    assert messages_sent_since(store, datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert messages_sent_since(Store(tmp_path / "nothing-here"), before) == 0


def test_the_workspace_records_a_session_only_when_it_is_worth_a_line(home):
    from tui.core import paths as paths_mod
    from tui.core.config.load import replace
    from tui.core.config.schema import Config
    from tui.core.profile.profiles import usage_file
    from tui.core.profile.workspace import Workspace

    w = Workspace(paths_mod.resolve(), replace(Config(), chat={"profile": "default"}))
    w.store.root.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC) - timedelta(seconds=5)
    w.record_usage(start, start + timedelta(seconds=30))  # short and nothing sent: no line
    assert not usage_file(w.store.root).exists()
    _chat_with_lines(w.store, "user")
    w.record_usage(start, start + timedelta(seconds=30))
    (line,) = usage_file(w.store.root).read_text().splitlines()
    assert json.loads(line)["messages"] == 1
    off = Workspace(w.paths, replace(w.config, privacy={"usage_stats": False}))
    off.record_usage(start, start + timedelta(minutes=5))
    assert len(usage_file(w.store.root).read_text().splitlines()) == 1
