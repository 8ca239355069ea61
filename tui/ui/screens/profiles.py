"""Profiles: pick, create, rename, delete, mark shared.

Opened from the home screen (F2). Each profile is its own space: its
characters, chats, memory and settings are never shown in another. The
shared profile of a couple is marked as such, so both know what it is.
Deleting says honestly what it can promise (see
:func:`tui.core.profile.profiles.deletion_caveat`), and the profile in use cannot
be deleted from inside itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.core import (
    CandlelitError,
    ProfileExists,
    ProfileInfo,
    VaultError,
    check_name,
    create_profile,
    delete_profile,
    deletion_caveat,
    list_profiles,
    passphrase_hint,
    profile_info,
    rename_profile,
    set_shared,
)
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.hooks import CandlelitModal, CandlelitScreen
from tui.ui.text import literal

__all__ = ["PassphraseScreen", "ProfilesScreen", "profile_counts", "profile_label"]

ENCRYPTION_NOTE = (
    "Everything in the profile (chats, characters, memory, caches, settings) is stored "
    "encrypted to a key that only this passphrase opens. Candlelit cannot recover a "
    "forgotten passphrase."
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def profile_counts(info: ProfileInfo) -> str:
    """"2 chats · 1 character", or "locked" while an encrypted profile's
    contents are unknown (nothing of it is read without its key)."""
    if info.chats is None or info.characters is None:
        return "locked"
    return f"{_plural(info.chats, 'chat')} · {_plural(info.characters, 'character')}"


def profile_label(info: ProfileInfo, current: str) -> str:
    tags = [t for t, on in (("shared", info.shared), ("encrypted", info.encrypted)) if on]
    label = f"{info.name}  · {profile_counts(info)}"
    if tags:
        label += "  [" + ", ".join(tags) + "]"
    if info.name == current:
        label += "  (open)"
    return label


@dataclass
class _Created(Message):
    name: str


@dataclass
class _Failed(Message):
    error: str


class PassphraseScreen(CandlelitModal[str | None]):
    """Ask for a new passphrase twice; dismiss with it, or None."""

    DEFAULT_CSS = """
    PassphraseScreen { align: center middle; }
    PassphraseScreen #dialog { width: 64; height: auto; border: thick $accent; background: $panel; padding: 1 2; }
    PassphraseScreen #pass-error { color: $error; height: auto; }
    PassphraseScreen #pass-hint { color: $warning; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="passphrase.cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, markup=False)
            yield Input(password=True, placeholder="passphrase", id="pass-1")
            yield Input(password=True, placeholder="the same again", id="pass-2")
            yield Static("", id="pass-error", markup=False)
            yield Static("", id="pass-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#pass-1", Input).focus()

    @on(Input.Changed, "#pass-1")
    def _strength(self, event: Input.Changed) -> None:
        hint = passphrase_hint(event.value) if event.value else None
        self.query_one("#pass-hint", Static).update(f"Hint: {hint}." if hint else "")

    @on(Input.Submitted, "#pass-1")
    def _first(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#pass-2", Input).focus()

    @on(Input.Submitted, "#pass-2")
    def _second(self, event: Input.Submitted) -> None:
        event.stop()
        first = self.query_one("#pass-1", Input).value
        error = self.query_one("#pass-error", Static)
        if not first:
            error.update("The passphrase must not be empty.")
            self.query_one("#pass-1", Input).focus()
        elif event.value != first:
            error.update("The two passphrases differ. Try again.")
            self.query_one("#pass-2", Input).value = ""
        else:
            self.dismiss(first)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProfilesScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", id="profiles.open", show=False),
        Binding("n", "create(False)", "New profile", id="profiles.new"),
        Binding("e", "create(True)", "New encrypted profile", id="profiles.new_encrypted"),
        Binding("r", "rename", "Rename", id="profiles.rename"),
        Binding("s", "toggle_shared", "Shared on/off", id="profiles.shared"),
        Binding("d,delete", "delete", "Delete", id="profiles.delete"),
        Binding("escape", "app.pop_screen", "Back", id="profiles.back"),
    ]
    DEFAULT_CSS = """
    ProfilesScreen #profiles-box { padding: 0 1; }
    ProfilesScreen #profiles { height: auto; max-height: 16; border: round $panel; }
    ProfilesScreen #profiles:focus { border: round $accent; }
    ProfilesScreen #profiles-note { color: $text-muted; margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="profiles-box"):
            yield Static(
                "Profiles: each one keeps its own characters, chats and memory; nothing of one "
                "shows in another. A shared profile is for the scenes you play together.",
                markup=False,
            )
            yield OptionList(id="profiles")
            yield Static("", id="profiles-note", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_profiles()
        self.query_one("#profiles", OptionList).focus()

    # -- listing -------------------------------------------------------------
    def refresh_profiles(self, highlight: str | None = None) -> None:
        ws = self.app.ws
        infos = list_profiles(ws.paths)
        if ws.profile_name not in {i.name for i in infos} and not ws.locked:
            ws.persona()  # the open profile exists once it is used: create its profile.toml
            infos = list_profiles(ws.paths)
        infos = [self._open_counts(info) if info.name == ws.profile_name else info for info in infos]
        ol = self.query_one("#profiles", OptionList)
        ol.clear_options()
        for info in infos:
            ol.add_option(Option(literal(profile_label(info, ws.profile_name)), id=info.name))
        target = highlight or ws.profile_name
        for i, info in enumerate(infos):
            if info.name == target:
                ol.highlighted = i
                break
        self.query_one("#profiles-note", Static).update(
            "Enter: open · n: new · e: new encrypted · r: rename · s: shared on/off · d: delete · Esc: back"
        )

    def _open_counts(self, info: ProfileInfo) -> ProfileInfo:
        """The open encrypted profile is unlocked: its counts are known."""
        ws = self.app.ws
        if info.chats is not None or ws.locked or not ws.encrypted:
            return info

        try:
            chats, chars = ws.folder_counts()
        except OSError:
            return info
        return replace(info, chats=chats, characters=chars)

    def _selected(self) -> str | None:
        ol = self.query_one("#profiles", OptionList)
        if ol.highlighted is None:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    def _error(self, exc: Exception) -> None:
        self.notify(str(exc), severity="error", markup=False)

    # -- open ------------------------------------------------------------------
    @on(OptionList.OptionSelected, "#profiles")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        name = self._selected()
        if not name:
            return
        self.app.pop_screen()
        if name != self.app.ws.profile_name:
            try:
                self.app.switch_profile(name)
            except (CandlelitError, OSError) as exc:
                self.app.notify(str(exc), severity="error", markup=False)
                return
            self.app.notify(f"Opened profile “{name}”.", markup=False)

    # -- create ----------------------------------------------------------------
    def action_create(self, encrypted: bool) -> None:
        def named(name: str | None) -> None:
            if not name or not name.strip():
                return
            name = name.strip()
            try:
                check_name(name)
            except CandlelitError as exc:
                self._error(exc)
                return
            if self.app.ws.paths.profile(name).exists():
                self._error(ProfileExists(f"a profile named '{name}' already exists"))
                return
            if not encrypted:
                self._create(name, None)
                return
            self.app.push_screen(
                PassphraseScreen(f"Passphrase for “{name}”. {ENCRYPTION_NOTE}"),
                lambda secret: self._create(name, secret) if secret else None,
            )

        kind = "encrypted profile" if encrypted else "profile"
        self.app.push_screen(AskScreen(f"Name of the new {kind} (letters, digits, - and _):"), named)

    @work(thread=True, exclusive=True, group="profiles", exit_on_error=False)
    def _create(self, name: str, passphrase: str | None) -> None:
        try:
            create_profile(self.app.ws.paths, name, passphrase=passphrase)
        except (CandlelitError, VaultError, OSError) as exc:
            self.post_message(_Failed(str(exc)))
            return
        self.post_message(_Created(name))

    @on(_Created)
    def _created(self, msg: _Created) -> None:
        self.refresh_profiles(highlight=msg.name)
        self.notify(f"Created profile “{msg.name}”. Enter opens it.", markup=False)

    @on(_Failed)
    def _failed(self, msg: _Failed) -> None:
        self.notify(msg.error, severity="error", markup=False)

    # -- rename, shared ---------------------------------------------------------
    def action_rename(self) -> None:
        old = self._selected()
        if not old:
            return

        def done(new: str | None) -> None:
            if not new or not new.strip() or new.strip() == old:
                return
            new = new.strip()
            try:
                if old == self.app.ws.profile_name:
                    self.app.record_usage()  # while the open profile is still where it was
                rename_profile(self.app.ws.paths, old, new)
            except (CandlelitError, OSError) as exc:
                self._error(exc)
                return
            if old == self.app.ws.profile_name:
                self.app.switch_profile(new)  # the open profile moved: follow it
                if self.app.ws.encrypted:
                    return  # it opens locked (its key was for the old folder): the lock screen is up
            self.refresh_profiles(highlight=new)

        self.app.push_screen(AskScreen(f"New name for profile “{old}”:", old), done)

    def action_toggle_shared(self) -> None:
        name = self._selected()
        if not name:
            return
        try:
            info = profile_info(self.app.ws.paths, name)
        except CandlelitError as exc:
            self._error(exc)
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                set_shared(self.app.ws.paths, name, not info.shared)
            except (CandlelitError, OSError) as exc:
                self._error(exc)
                return
            self.refresh_profiles(highlight=name)

        question = (
            f"Mark “{name}” as a shared profile? It is for scenes you play together: "
            "both of you can open it and see everything in it."
            if not info.shared
            else f"Mark “{name}” as not shared? (Nothing in it is moved or removed.)"
        )
        self.app.push_screen(ConfirmScreen(question), done)

    # -- delete ------------------------------------------------------------------
    def action_delete(self) -> None:
        name = self._selected()
        if not name:
            return
        if name == self.app.ws.profile_name:
            self.notify("This profile is open. Open another one first, then delete this one.", markup=False)
            return
        try:
            info = profile_info(self.app.ws.paths, name)
        except CandlelitError as exc:
            self._error(exc)
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                report = delete_profile(self.app.ws.paths, name)
            except (CandlelitError, VaultError, OSError) as exc:
                self._error(exc)
                return
            self.refresh_profiles()
            extra = " Its key file was overwritten and removed." if report.key_destroyed else ""
            self.notify(f"Deleted profile “{name}”.{extra}", markup=False)

        what = profile_counts(info).replace(" · ", ", ")
        if what == "locked":
            what = "encrypted: what it holds is not known while it is locked"
        self.app.push_screen(
            ConfirmScreen(
                f"Delete profile “{name}” ({what}) with its memory, caches and settings? "
                f"{deletion_caveat(info)} This cannot be undone."
            ),
            done,
        )
