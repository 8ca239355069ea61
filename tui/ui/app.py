"""The Textual app: one factory, ``make_app``, shared by the CLI and tests.

The model loads in a background thread worker as soon as the app starts;
the home screen and old chats are usable meanwhile. Nothing is read or
loaded at import time or in the constructor.

Privacy at app level: the panic key (``[privacy] panic_key``, F12 by
default, works everywhere), the lock screen of an encrypted profile (at
start and after ``idle_lock_minutes`` without input), notifications held
back while the screen is hidden, local usage stats written on exit, opt-in
gentle reminders, the Profiles (F2) and Stats (F3) screens. Paths that
could reach the network or write the screen to disk are closed: Textual
devtools are switched off whatever ``$TEXTUAL`` says, links are never
opened in a browser, and screenshots and ``$TEXTUAL_LOG`` are disabled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tui.core import (
    Engine,
    EngineError,
    LlamaCppEngine,
    ModelFileError,
    ReminderSettings,
    Vault,
    VaultError,
    Workspace,
    neutralize,
    reminder_due,
)
from tui.ui.bindings import described_bindings
from tui.ui.screens.hooks import CandlelitScreen


@dataclass
class ModelProgress(Message):
    text: str


@dataclass
class ModelReady(Message):
    engine: Engine


@dataclass
class ModelFailed(Message):
    error: str


class CandlelitApp(App[None]):
    TITLE = "Candlelit"
    SUB_TITLE = "LOCAL · private"
    CSS_PATH = "candlelit.tcss"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="help"),
        Binding("f12", "panic", "Hide the screen (panic key)", id="privacy.panic", priority=True, show=False),
        Binding("ctrl+l", "lock", "Lock the profile now", id="privacy.lock", priority=True, show=False),
        Binding("f2", "profiles", "Profiles", id="privacy.profiles", show=False),
        Binding("f3", "stats", "Usage stats", id="privacy.stats", show=False),
    ]
    TICK_S = 5.0  # how often idle lock and reminders are checked
    _INPUT_EVENTS = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp, events.Paste)

    def __init__(
        self, ws: Workspace, *, model_override: str | None = None, engine: Engine | None = None,
        tokenizer: Engine | None = None,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.model_override = model_override
        self.engine: Engine | None = engine
        self.model_state = "model ready" if engine else "loading model…"
        self._owns_engine = engine is None
        self._tokenizer: Engine | None = tokenizer
        self._owns_tokenizer = tokenizer is None
        self._tokenizer_failed = False
        self._tokenizer_lock = threading.Lock()
        self._close_leaks()
        self.vault: Vault | None = None  # the open key of an encrypted profile, if any
        self.clock = time.monotonic  # tests replace it to jump ahead
        self._last_input = self.clock()
        self._held: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._session_start = datetime.now(timezone.utc)
        self._last_reminder: datetime | None = None

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

    def on_mount(self) -> None:
        from tui.ui.screens.home import HomeScreen

        self.push_screen(HomeScreen())
        privacy = self.ws.config.privacy
        if privacy.panic_key != "f12":
            self.set_keymap({"privacy.panic": privacy.panic_key})
        if self.encrypted:
            self.lock_now()
        self.set_interval(self.TICK_S, self._tick, name="privacy tick")
        if self.engine is None:
            self._load_model()

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def _load_model(self) -> None:
        try:
            def progress(done: int, total: int) -> None:
                pct = int(done * 100 / total) if total else 100
                self.post_message(ModelProgress(f"assembling default model {pct}%"))

            path: Path = self.ws.model_path(self.model_override, progress=progress)
            self.post_message(ModelProgress(f"loading {path.name}…"))
            engine = LlamaCppEngine(self.ws.engine_settings(path))
            engine.load()
        except (ModelFileError, EngineError, OSError) as exc:
            self.post_message(ModelFailed(str(exc)))
            return
        self.post_message(ModelReady(engine))

    @on(ModelProgress)
    def _on_progress(self, msg: ModelProgress) -> None:
        self.set_model_state(msg.text)

    @on(ModelReady)
    def _on_ready(self, msg: ModelReady) -> None:
        self.engine = msg.engine
        self.set_model_state(f"{msg.engine.info.name}")

    @on(ModelFailed)
    def _on_failed(self, msg: ModelFailed) -> None:
        self.set_model_state("no model")
        self.notify(msg.error, title="Model failed to load", severity="error", timeout=30, markup=False)

    def set_model_state(self, text: str) -> None:
        self.model_state = text
        for screen in self._screens():
            screen.model_state_changed(text)

    def _screens(self) -> list[CandlelitScreen]:
        """The screens on the stack that take the app's calls (``ScreenHooks``)."""
        return [s for s in self.screen_stack if isinstance(s, CandlelitScreen)]

    def tokenizer(self) -> Engine | None:
        """The exact tokenizer for live token counts, or None without a model.

        A separate vocab-only llama.cpp instance with its own thread, loaded
        once on first use: counting never queues behind (or slows) a reply.
        Blocks while loading, so call it from a thread worker.
        """
        with self._tokenizer_lock:
            if self._tokenizer is None and not self._tokenizer_failed:
                try:
                    path = self.ws.model_path(self.model_override)
                    tokenizer = LlamaCppEngine(self.ws.engine_settings(path, vocab_only=True))
                    tokenizer.load()
                except (ModelFileError, EngineError, OSError):
                    self._tokenizer_failed = True
                else:
                    self._tokenizer = tokenizer
            return self._tokenizer

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette offers every binding of the current screen
        (and of the focused message), so nothing is keyboard-only."""
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":  # would write the screen to a file
                yield command
        sources: list = [screen, self]
        if screen.focused is not None and screen.focused is not screen:
            sources.insert(0, screen.focused)
        for node, b, keys in described_bindings(self, sources, ", "):
            yield SystemCommand(
                b.description,
                f"Key: {keys}",
                lambda node=node, action=b.action: self.call_later(node.run_action, action),
            )
        from tui.ui.chat_files import export_commands

        yield from export_commands(self, screen)  # on a chat: export it (st, md, txt, jsonl)

    def action_help(self) -> None:
        from tui.ui.screens.help import HelpScreen

        if not self.hidden and not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- privacy ---------------------------------------------------------------
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
        forget = getattr(self.engine, "forget", None)
        if forget is not None:  # the chat's tokens and KV cache in the model's memory
            try:
                forget()
            except Exception:  # noqa: BLE001 - a model that failed is holding nothing
                pass
        from tui.ui.widgets.avatar import clear_cache

        clear_cache()  # decoded avatars of the profile
        self.clear_notifications()

    def _refresh_lists(self) -> None:
        for screen in self._screens():
            if screen.is_mounted:
                screen.refresh_lists()

    def _hide(self) -> None:
        self.clear_notifications()
        for screen in self._screens():
            screen.privacy_locked()

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

        start, end = self._session_start, now or datetime.now(timezone.utc)
        self._session_start = end
        self.ws.record_usage(start, end)

    def action_profiles(self) -> None:
        from tui.ui.screens.home import HomeScreen
        from tui.ui.screens.profiles import ProfilesScreen

        if self.hidden or isinstance(self.screen, ProfilesScreen):
            return
        if not isinstance(self.screen, HomeScreen):
            self.notify("Profiles open from the home screen (Esc to go back to it).", markup=False)
            return
        self.push_screen(ProfilesScreen())

    def action_stats(self) -> None:
        from tui.ui.screens.stats import StatsScreen

        if not self.hidden and not isinstance(self.screen, StatsScreen):
            self.push_screen(StatsScreen())

    def switch_profile(self, name: str) -> None:
        """Open another profile (from the home screen): its own characters,
        chats and settings; an encrypted one asks for its passphrase."""
        ws = self.ws.for_profile(name)  # checks the name first
        if self.encrypted:
            self._close_profile()  # records usage, then locks the profile left behind
        else:
            self.record_usage()
            self._drop_key()
        self.ws = ws
        self._last_reminder = None
        self._refresh_lists()
        if self.encrypted:
            self.lock_now()  # it opens locked: its passphrase shows its lists

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

    def on_unmount(self) -> None:
        self.record_usage()
        for screen in self._screens():
            screen.save_cache()  # before the engine goes, and while an encrypted profile can be written
        self._drop_key()
        if self._owns_engine and self.engine is not None:
            self.engine.close()
        if self._owns_tokenizer and self._tokenizer is not None:
            self._tokenizer.close()


def make_app(
    ws: Workspace, model_override: str | None = None, engine: Engine | None = None,
    tokenizer: Engine | None = None,
) -> CandlelitApp:
    return CandlelitApp(ws, model_override=model_override, engine=engine, tokenizer=tokenizer)
