"""Stats: local usage of this profile, and its opt-in gentle reminders.

Minutes in the app and messages you sent, per day, read from the profile's
own ``usage.jsonl`` (times and counts only; never sent anywhere). No
streaks, goals or scores: just what happened. The two reminders (after a
session length, late at night) are off unless switched on here or in
``[privacy]``; the choice made here is kept per profile.
"""

from __future__ import annotations

from datetime import date, timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static

from tui.core import DayStats, ProfileError, StatsError
from tui.ui.screens.hooks import CandlelitScreen

__all__ = ["SESSION_STEPS", "StatsScreen", "stats_text"]

SESSION_STEPS = (0, 45, 60, 90, 120)
SHOWN_DAYS = 14


def _minutes(m: float) -> str:
    total = int(round(m))
    hours, mins = divmod(total, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def stats_text(days: list[DayStats], today: date) -> str:
    """The table of recent days and two plain totals."""
    if not days:
        return "Nothing recorded yet. Times and message counts appear here after you use the app."
    recent = [d for d in days if d.day > today - timedelta(days=SHOWN_DAYS)]
    week = [d for d in days if d.day > today - timedelta(days=7)]
    lines = [f"{'day':<12}{'time':>12}{'messages':>10}"]
    for d in reversed(recent):
        lines.append(f"{d.day.isoformat():<12}{_minutes(d.minutes):>12}{d.messages:>10}")
    if not recent:
        lines.append(f"(nothing in the last {SHOWN_DAYS} days)")
    lines.append("")
    lines.append(
        f"Last 7 days: {_minutes(sum(d.minutes for d in week))}, "
        f"{sum(d.messages for d in week)} messages."
    )
    return "\n".join(lines)


class StatsScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="stats.back"),
        Binding("m", "session_reminder", "Session reminder", id="stats.session"),
        Binding("n", "night_reminder", "Late-night reminder", id="stats.night"),
    ]
    DEFAULT_CSS = """
    StatsScreen #stats { padding: 0 1; }
    StatsScreen #stats-table { margin-top: 1; }
    StatsScreen .heading { text-style: bold; margin-top: 1; color: $accent; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="stats"):
            yield Static("", id="stats-title", markup=False)
            yield Static("", id="stats-table", markup=False)
            yield Static("Reminders (off unless you switch them on)", classes="heading")
            yield Static("", id="stats-reminders", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_stats()

    def on_screen_resume(self) -> None:
        self.refresh_stats()

    def _reminders(self) -> dict:
        return self.app.ws.reminders()

    def refresh_stats(self) -> None:
        ws = self.app.ws
        if ws.locked:
            return  # the profile is locking (this screen is being closed): nothing to read
        enabled = ws.config.privacy.usage_stats
        title = f"Usage of profile “{ws.profile_name}”: kept on this computer only, never sent anywhere."
        if not enabled:
            title += " Recording is off ([privacy] usage_stats = false)."
        self.query_one("#stats-title", Static).update(title)
        try:
            table = stats_text(ws.usage_days(), date.today())
        except StatsError as exc:
            table = f"{exc}. Nothing was changed."
        self.query_one("#stats-table", Static).update(table)
        r = self._reminders()
        session = f"after {r['session_minutes']} min in one session" if r["session_minutes"] else "off"
        night = f"on ({r['night_start']}–{r['night_end']})" if r["late_night"] else "off"
        self.query_one("#stats-reminders", Static).update(
            f"Session length: {session}   (m: change)\nLate at night: {night}   (n: switch)"
        )

    def _save(self, *, session_minutes: int, late_night: bool) -> None:
        try:
            self.app.ws.save_reminders(session_minutes=session_minutes, late_night=late_night)
        except (ProfileError, OSError) as exc:
            self.notify(str(exc), severity="error", markup=False)
        self.refresh_stats()

    def action_session_reminder(self) -> None:
        r = self._reminders()
        current = r["session_minutes"] or 0
        later = [s for s in SESSION_STEPS if s > current]
        self._save(session_minutes=later[0] if later else 0, late_night=r["late_night"])

    def action_night_reminder(self) -> None:
        r = self._reminders()
        self._save(session_minutes=r["session_minutes"] or 0, late_night=not r["late_night"])
