"""The Textual app: one factory, ``make_app``, shared by the CLI and tests.

The model loads in a background thread worker as soon as the app starts;
the home screen and old chats are usable meanwhile. Nothing is read or
loaded at import time or in the constructor.

Privacy at app level (the panic key, the lock screen, the idle lock, held
notifications, usage stats and reminders, the closed leaks) is in
``tui/ui/privacy.py``, the base of the app; here: the model, the
screens, the keys and the command palette.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tui.core import (
    Engine,
    EngineError,
    ModelFileError,
    Workspace,
)
from tui.ui.bindings import described_bindings
from tui.ui.privacy import PrivacyApp


@dataclass
class ModelProgress(Message):
    text: str


@dataclass
class ModelReady(Message):
    engine: Engine


@dataclass
class ModelFailed(Message):
    error: str


class CandlelitApp(PrivacyApp):
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

    def __init__(
        self, ws: Workspace, *, model_override: str | None = None, engine: Engine | None = None,
        tokenizer: Engine | None = None,
    ) -> None:
        super().__init__()
        self.ws = ws
        # while the app shows a profile, no other process converts, renames or
        # deletes it (ProfileBusy here: one is doing so right now)
        self._hold = ws.hold()
        self.model_override = model_override
        self.engine: Engine | None = engine
        self.model_state = "model ready" if engine else "loading model…"
        self._owns_engine = engine is None
        self._tokenizer: Engine | None = tokenizer
        self._owns_tokenizer = tokenizer is None
        self._tokenizer_failed = False
        self._tokenizer_lock = threading.Lock()
        self._init_privacy()

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

            if self.ws.config.engine.kind != "local":
                self.post_message(ModelProgress(f"connecting to {self.ws.config.engine.url}…"))
                engine = self.ws.connect_engine()
            else:
                path: Path = self.ws.model_path(self.model_override, progress=progress)
                self.post_message(ModelProgress(f"loading {path.name}…"))
                engine = self.ws.open_engine(path)
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

    def tokenizer(self) -> Engine | None:
        """The exact tokenizer for live token counts, or None without a model.

        A separate vocab-only llama.cpp instance with its own thread, loaded
        once on first use: counting never queues behind (or slows) a reply.
        Blocks while loading, so call it from a thread worker.
        """
        if self.ws.config.engine.kind != "local":
            return self.engine  # a server counts with its own tokenizer, not queued behind a reply
        with self._tokenizer_lock:
            if self._tokenizer is None and not self._tokenizer_failed:
                try:
                    path = self.ws.model_path(self.model_override)
                    tokenizer = self.ws.open_engine(path, vocab_only=True)
                except (ModelFileError, EngineError, OSError):
                    self._tokenizer_failed = True
                else:
                    self._tokenizer = tokenizer
            return self._tokenizer

    def _forget_chat(self) -> None:
        if self.engine is not None:  # the chat's tokens and KV cache in the model's memory
            try:
                self.engine.forget()
            except Exception:  # noqa: BLE001 - a model that failed is holding nothing
                pass

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
        hold = ws.hold()  # ProfileBusy: another process is converting it
        if self.encrypted:
            self._close_profile()  # records usage, then locks the profile left behind
        else:
            self.record_usage()
            self._drop_key()
        self.ws = ws
        self._hold.release()
        self._hold = hold
        self._last_reminder = None
        self._refresh_lists()
        if self.encrypted:
            self.lock_now()  # it opens locked: its passphrase shows its lists

    def on_unmount(self) -> None:
        self.record_usage()
        for screen in self._screens():
            screen.save_cache()  # before the engine goes, and while an encrypted profile can be written
        self._drop_key()
        self._hold.release()
        if self._owns_engine and self.engine is not None:
            self.engine.close()
        if self._owns_tokenizer and self._tokenizer is not None:
            self._tokenizer.close()


def make_app(
    ws: Workspace, model_override: str | None = None, engine: Engine | None = None,
    tokenizer: Engine | None = None,
) -> CandlelitApp:
    return CandlelitApp(ws, model_override=model_override, engine=engine, tokenizer=tokenizer)
