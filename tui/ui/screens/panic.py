"""The panic screen and the lock screen.

``PanicScreen`` replaces everything at once with something innocuous: an
empty screen, or a dull, made-up build log. It shows no app name, no
title, no chat text. Any key brings the app back; for an encrypted profile
a key only reveals a bare ``password`` line, and the app comes back once
the profile's passphrase opens its key (``tui.core.privacy.unlock``).

``LockScreen`` covers the app when an encrypted profile is locked (at
start, after the idle time, or on request); only the passphrase opens it.

The passphrase check (one scrypt, about a second) runs in a thread so the
screen stays responsive. A wrong passphrase changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from tui.core import Vault, VaultError, WrongPassphrase, is_encrypted, unlock
from tui.ui.screens.hooks import CandlelitScreen

__all__ = ["LockScreen", "PanicScreen", "fake_log"]

_MODULES = (
    "parser", "lexer", "config", "io/buffer", "io/stream", "net/addr", "util/strings",
    "util/time", "cache/lru", "cache/disk", "render/layout", "render/text", "db/index",
    "db/pager", "cli/args", "cli/output", "fmt/json", "fmt/toml", "sched/queue", "sched/timer",
)


def fake_log(lines: int = 60) -> str:
    """A long, boring, entirely made-up build log (deterministic)."""
    out: list[str] = ["$ make -j4 all"]
    t = 0.0
    for i in range(lines):
        mod = _MODULES[(i * 7) % len(_MODULES)]
        t += 0.137 + (i % 5) * 0.041
        if i % 9 == 8:
            out.append(f"[{t:8.3f}] test   {mod:<16} {12 + i % 17} passed, 0 failed")
        elif i % 13 == 12:
            out.append(f"[{t:8.3f}] link   build/lib{mod.split('/')[0]}.a")
        else:
            out.append(f"[{t:8.3f}] cc     src/{mod}.c -> build/{mod}.o")
    out.append(f"[{t + 0.3:8.3f}] done   0 warnings")
    return "\n".join(out)


@dataclass
class _Unlocked(Message):
    opened: Vault


@dataclass
class _Rejected(Message):
    reason: str


def _unlock_app(screen: CandlelitScreen, opened: Vault) -> str:
    """Hand the opened key to the app (it keeps the reference until the next
    lock); returns "" once the profile is open, else why it did not open."""
    try:
        screen.app.privacy_unlocked(opened)
    except (VaultError, OSError) as exc:
        opened.lock()
        return str(exc) or exc.__class__.__name__
    return ""


class _Unlocking:
    """The threaded passphrase check shared by both screens."""

    profile_dir: Path | None

    @work(thread=True, exclusive=True, group="unlock", exit_on_error=False)
    def _check(self, passphrase: str) -> None:
        assert self.profile_dir is not None
        try:
            opened = unlock(self.profile_dir, passphrase)
        except WrongPassphrase:
            self.post_message(_Rejected("Wrong passphrase."))  # type: ignore[attr-defined]
            return
        except (VaultError, OSError) as exc:
            self.post_message(_Rejected(str(exc)))  # type: ignore[attr-defined]
            return
        self.post_message(_Unlocked(opened))  # type: ignore[attr-defined]


class PanicScreen(_Unlocking, CandlelitScreen[None]):
    """Blank (or a fake log); any key returns, with the passphrase if encrypted."""

    DEFAULT_CSS = """
    PanicScreen { background: black; color: #a8a8a8; }
    PanicScreen #panic-log { padding: 0 1; color: #a8a8a8; background: black; }
    PanicScreen #panic-ask { dock: bottom; display: none; border: none; height: 1; padding: 0 1;
                             background: black; color: #a8a8a8; }
    PanicScreen #panic-ask.-shown { display: block; }
    PanicScreen #panic-ask:focus { border: none; }
    """
    AUTO_FOCUS = None

    def __init__(self, style: str = "blank", profile_dir: Path | None = None) -> None:
        super().__init__()
        self.style = style
        self.profile_dir = profile_dir if profile_dir is not None and is_encrypted(profile_dir) else None

    @property
    def needs_passphrase(self) -> bool:
        return self.profile_dir is not None

    def compose(self) -> ComposeResult:
        if self.style == "log":
            yield Static(fake_log(), id="panic-log", markup=False)
        ask = Input(password=True, placeholder="password", id="panic-ask")
        ask.disabled = True  # takes no keys (and no focus) until it is shown
        yield ask

    def on_mount(self) -> None:
        self.set_focus(None)

    def any_key(self) -> None:
        """What a key press does here: return, or ask for the passphrase."""
        ask = self.query_one("#panic-ask", Input)
        if not self.needs_passphrase:
            self.dismiss(None)
        elif not ask.has_class("-shown"):
            ask.value = ""
            ask.disabled = False
            ask.add_class("-shown")
            ask.focus()

    def _hide_ask(self) -> None:
        ask = self.query_one("#panic-ask", Input)
        ask.value = ""
        ask.remove_class("-shown")
        ask.disabled = True
        self.set_focus(None)

    async def on_key(self, event: events.Key) -> None:
        if self.query_one("#panic-ask", Input).has_class("-shown"):
            if event.key == "escape":
                event.stop()
                event.prevent_default()
                self._hide_ask()
            return  # typing the passphrase: the input (and Enter) get the key
        event.stop()  # nothing else sees it: no app binding can reveal the app
        event.prevent_default()
        self.any_key()

    def on_click(self, event: events.Click) -> None:
        event.stop()

    @on(Input.Submitted, "#panic-ask")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value:
            self._check(event.value)
        self.query_one("#panic-ask", Input).value = ""

    @on(_Rejected)
    def _rejected(self, msg: _Rejected) -> None:
        self._hide_ask()  # no message: the screen stays innocuous

    @on(_Unlocked)
    def _unlocked(self, msg: _Unlocked) -> None:
        error = _unlock_app(self, msg.opened)
        app = self.app
        self.dismiss(None)
        if error:  # the right passphrase, but the profile did not open: say why
            app.lock_now(error)


class LockScreen(_Unlocking, CandlelitScreen[None]):
    """The app is locked: only the profile's passphrase opens it."""

    DEFAULT_CSS = """
    LockScreen { align: center middle; background: $background; }
    LockScreen #lock-box { width: 60; height: auto; border: round $accent; padding: 1 2; }
    LockScreen #lock-error { color: $error; height: auto; }
    """
    AUTO_FOCUS = "#lock-input"

    def __init__(self, profile_dir: Path, profile_name: str = "", *, error: str = "") -> None:
        super().__init__()
        self.profile_dir = Path(profile_dir)
        self.profile_name = profile_name or self.profile_dir.name
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="lock-box"):
            yield Static(
                f"Locked. Enter the passphrase of profile “{self.profile_name}” to continue.",
                id="lock-text",
                markup=False,
            )
            yield Input(password=True, placeholder="passphrase", id="lock-input")
            yield Static(self.error, id="lock-error", markup=False)

    async def on_key(self, event: events.Key) -> None:
        if event.key == "escape":  # nothing to go back to
            event.stop()
            event.prevent_default()

    @on(Input.Submitted, "#lock-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            return
        self.query_one("#lock-error", Static).update("Checking…")
        self._check(event.value)
        event.input.value = ""

    @on(_Rejected)
    def _rejected(self, msg: _Rejected) -> None:
        self.query_one("#lock-error", Static).update(msg.reason)
        self.query_one("#lock-input", Input).focus()

    @on(_Unlocked)
    def _unlocked(self, msg: _Unlocked) -> None:
        error = _unlock_app(self, msg.opened)
        if error:
            self.query_one("#lock-error", Static).update(error)
            self.query_one("#lock-input", Input).focus()
            return
        self.dismiss(None)
