"""Privacy at app level, the base class of ``CandlelitApp``.

The panic key (``[privacy] panic_key``, F12 by default, works everywhere),
the lock screen of an encrypted profile (at start and after
``idle_lock_minutes`` without input), notifications held back while the
screen is hidden, local usage stats written on exit, opt-in gentle
reminders. Paths that could reach the network or write the screen to disk
are closed: Textual devtools are switched off whatever ``$TEXTUAL`` says,
links are never opened in a browser, and screenshots and ``$TEXTUAL_LOG``
are disabled.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from textual import events

from tui.core import Engine, ReminderSettings, Vault, VaultError, Workspace, neutralize, reminder_due
from tui.ui.base import AppBase
from tui.ui.screens.hooks import CandlelitScreen


class PrivacyApp(AppBase):
    """What keeps the app private; ``CandlelitApp`` is the rest."""

    _INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp, events.Paste)
    ws: Workspace
    engine: Engine | None

    def _init_privacy(self) -> None:
        """From the app's constructor."""
        self._close_leaks()
        self.vault: Vault | None = None  # the open key of an encrypted profile, if any
        self.clock = time.monotonic  # tests replace it to jump ahead
        self._last_input = self.clock()
        self._held: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._session_start = datetime.now(UTC)
        self._last_reminder: datetime | None = None

    def _screens(self) -> list[CandlelitScreen]:
        """The screens on the stack that take the app's calls (``ScreenHooks``)."""
        return [s for s in self.screen_stack if isinstance(s, CandlelitScreen)]

    def _forget_chat(self) -> None:
        """Let the engine drop the chat it holds (the app knows the engine)."""

    def _fatal_error(self) -> None:
        """Textual's crash report prints every local variable of every frame,
        which would put chat text (and passphrases) on the terminal and into
        anything capturing stderr: ours shows the code path only."""
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        report = Traceback(show_locals=False, width=None)
        self._exit_renderables.append(Segments(self.console.render(report, self.console.options)))
        self._close_messages_no_wait()

    def _close_leaks(self) -> None:
        """Devtools would connect to a console over a socket; a Textual log
        file would get what the app logs: both are off, whatever the env says."""
        import textual.constants

        self.features = frozenset(f for f in self.features if f not in ("devtools", "debug"))
        self.devtools = None
        self._devtools_redirector = None
        textual.constants.LOG_FILE = None  # type: ignore[misc]
        textual.constants.SCREENSHOT_DELAY = -1  # type: ignore[misc]

    @property
    def encrypted(self) -> bool:
        return self.ws.encrypted

    @property
    def hidden(self) -> bool:
        """True while the panic or lock screen covers the app."""
        from tui.ui.screens.panic import LockScreen, PanicScreen

        return any(isinstance(s, (PanicScreen, LockScreen)) for s in self.screen_stack)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, self._INPUT_EVENTS):
            self._last_input = self.clock()
        await super().on_event(event)

    def _drop_key(self) -> None:
        self.ws.lock()  # through the sealed layer: waits for a write in progress
        if self.vault is not None:
            self.vault.lock()
            self.vault = None

    def _close_profile(self) -> None:
        """Before an encrypted profile locks: let go of everything decrypted.

        Records usage while the profile can still be written, stops the work
        of every screen above the home screen (a reply being written, ideas,
        a rehearsal), pops those screens (chat, memory, studio, stats...:
        anything that shows or holds profile data; unsaved edits there are
        lost), empties the home lists, then drops the key. A cache save or a
        late write after this meets a locked profile and is skipped.
        """
        from tui.ui.screens.home import HomeScreen

        self.record_usage()
        homes = [s for s in self.screen_stack if isinstance(s, HomeScreen)]
        if homes:
            above = self.screen_stack[self.screen_stack.index(homes[-1]) + 1:]
            for screen in reversed(above):
                if isinstance(screen, CandlelitScreen):
                    screen.stop_work()
            while self.screen is not homes[-1]:
                self.pop_screen()
            if homes[-1].is_mounted:
                homes[-1].clear_lists()
        self._drop_key()
        self._forget_chat()
        from tui.ui.widgets.avatar import clear_cache

        clear_cache()  # decoded avatars of the profile
        self.clear_notifications()

    def _refresh_lists(self) -> None:
        for screen in self._screens():
            if screen.is_mounted:
                screen.refresh_lists()

    def _hide(self) -> None:
        self.clear_notifications()
        self.clear_clipboard()  # panic and lock: what was copied goes too
        for screen in self._screens():
            screen.privacy_locked()

    # -- the clipboard ---------------------------------------------------------
    _copies = 0  # which copy is the latest (a later copy cancels an earlier clear)

    def copy_text(self, text: str) -> int:
        """Put ``text`` on the clipboard (OSC 52) as plain text, and clear it
        again after ``[privacy] clipboard_clear_s`` unless something newer was
        copied; returns the seconds until then (0 = never)."""
        self._copies += 1
        self.copy_to_clipboard(neutralize(text))
        after = self.ws.config.privacy.clipboard_clear_s
        if after > 0:
            mine = self._copies
            self.set_timer(after, lambda: self._copies == mine and self.clear_clipboard())
        return after

    def clear_clipboard(self) -> None:
        if self._copies:
            self._copies += 1
            self.copy_to_clipboard("")

    def action_panic(self) -> None:
        """Replace the screen at once; on the panic screen, a key press there."""
        from tui.ui.screens.panic import PanicScreen

        if isinstance(self.screen, PanicScreen):
            self.screen.any_key()
            return
        encrypted = self.encrypted
        if encrypted:
            self._close_profile()  # as a lock: nothing decrypted stays behind
        self._hide()
        self.push_screen(
            PanicScreen(self.ws.config.privacy.panic_screen, self.ws.profile_dir if encrypted else None),
            lambda _r: self._unhidden(),
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lock":
            return self.encrypted  # only an encrypted profile has something to lock
        return super().check_action(action, parameters)

    def action_lock(self) -> None:
        """Ctrl+L: lock an open encrypted profile now (the passphrase opens it)."""
        if not self.hidden:
            self.lock_now()

    def lock_now(self, error: str = "") -> None:
        """Lock an encrypted profile: close what shows it, drop the key, cover
        the app. ``error`` is shown on the lock screen (why it is locked)."""
        from tui.ui.screens.panic import LockScreen

        if not self.encrypted or any(isinstance(s, LockScreen) for s in self.screen_stack):
            return
        self._close_profile()
        self._hide()
        self.push_screen(
            LockScreen(self.ws.profile_dir, self.ws.profile_name, error=error), lambda _r: self._unhidden()
        )

    def privacy_unlocked(self, opened: Vault) -> None:
        """The passphrase opened the profile's key (called by the lock/panic
        screens): open the profile through it and show its lists.

        Raises ``VaultError``/``OSError`` when the profile does not open
        (a damaged index); then nothing changes and the key is dropped.
        """
        try:
            if opened.profile_dir != self.ws.profile_dir:
                raise VaultError("that key belongs to another profile")
            ws = self.ws.unlocked(opened)
        except BaseException:
            opened.lock()
            raise
        self._drop_key()
        self.ws = ws
        self.vault = opened
        self._last_input = self.clock()
        self._refresh_lists()

    def _unhidden(self) -> None:
        if self.hidden:
            return
        held, self._held = self._held, []
        for args, kwargs in held:
            super().notify(*args, **kwargs)

    def notify(self, message: str, **kwargs: Any) -> None:  # type: ignore[override]
        """Notifications wait while the screen is hidden (they could give it away).

        They are always literal: a message quotes names, titles and errors
        (card text full of square brackets), so markup is never read, even
        where a caller left Textual's default; control characters are made
        visible."""
        kwargs["markup"] = False
        if isinstance(kwargs.get("title"), str):
            kwargs["title"] = neutralize(kwargs["title"])
        args = (neutralize(str(message)),)
        if self.hidden:
            self._held.append((args, kwargs))
            return
        super().notify(*args, **kwargs)

    def check_idle_lock(self) -> bool:
        """Lock if an encrypted profile was idle too long; True when it locked."""
        minutes = self.ws.config.privacy.idle_lock_minutes
        if minutes <= 0 or not self.encrypted or self.hidden:
            return False
        if self.clock() - self._last_input < minutes * 60:
            return False
        self.lock_now()
        return True

    def reminder_settings(self) -> ReminderSettings:
        return self.ws.reminder_settings()

    def check_reminder(self, now: datetime | None = None) -> str | None:
        """Show an opt-in reminder if one is due; return its text."""

        if self.hidden:
            return None
        now = now or datetime.now().astimezone()
        start = self._session_start.astimezone(now.tzinfo)
        text = reminder_due(self.reminder_settings(), start, now, self._last_reminder)
        if text:
            self._last_reminder = now
            self.notify(text, title="A gentle reminder", timeout=30, markup=False)
        return text

    def _tick(self) -> None:
        self.check_idle_lock()
        self.check_reminder()

    def record_usage(self, now: datetime | None = None) -> None:
        """Append this session (times and a count of messages you sent) to the
        profile's local stats; no text, no names, never sent anywhere."""

        start, end = self._session_start, now or datetime.now(UTC)
        self._session_start = end
        self.ws.record_usage(start, end)

    def action_command_palette(self) -> None:
        from tui.ui.screens.panic import PanicScreen

        if isinstance(self.screen, PanicScreen):
            self.screen.any_key()
        elif not self.hidden:
            super().action_command_palette()

    def open_url(self, url: str, *, new_tab: bool = True) -> None:
        """Never: a link in a reply must not reach the network."""
        self.notify(
            f"Links are not opened (Candlelit stays offline). The address: {url}",
            severity="warning",
            markup=False,
        )

    def save_screenshot(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        """Off: a screenshot would write the story on screen to a file."""
        self.notify("Screenshots are switched off: they would write your chat to a file.", markup=False)
        return ""

    def deliver_screenshot(self, *args: Any, **kwargs: Any) -> str | None:  # type: ignore[override]
        self.save_screenshot()
        return None
