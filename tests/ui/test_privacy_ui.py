"""Pilot tests of the privacy UI: panic key, lock and idle lock, tripwire
dialog, Stats, Profiles, and the closed leak paths (devtools, links,
screenshots)."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from datetime import datetime, timedelta

import pytest
from conftest import wait_until
from textual.widgets import Input, OptionList, Static

from tui.core import paths as paths_mod
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.privacy import vault as V
from tui.core.profile import profiles as P
from tui.core.profile.usage_stats import record_session
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.panic import LockScreen, PanicScreen, fake_log
from tui.ui.screens.profiles import PassphraseScreen, ProfilesScreen
from tui.ui.screens.stats import StatsScreen, stats_text
from tui.ui.screens.tripwire import TripwireScreen, confirm_send, excerpt
from tui.ui.widgets.composer import Composer


def ws(profile: str = "default", **privacy) -> Workspace:
    cfg = replace(Config(), chat={"profile": profile}, privacy=privacy)
    return Workspace(paths_mod.resolve(), cfg)


def screen_text(app) -> str:
    svg = app.export_screenshot(title="shot")  # no window title: only what is on screen
    return svg.replace("&#160;", " ")


async def open_chat(app, pilot, chat_id: str) -> ChatScreen:
    app.push_screen(ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


# ---------------------------------------------------------------- panic key


async def test_panic_key_hides_everything_and_any_key_returns(home, scripted):
    w = ws()
    chat = w.new_chat("mara", title="Moonlit")
    w.store.append(chat.id, Message.new("User", "user", "Zanzibarquill"))
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(app, pilot, chat.id)
        screen.query_one(Composer).insert("half typed")
        assert "Zanzibarquill" in screen_text(app)
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        shown = screen_text(app)
        for needle in ("Zanzibarquill", "Moonlit", "Candlelit", "Mara", "LOCAL"):
            assert needle not in shown, needle
        await pilot.press("question_mark")  # any key, even one bound elsewhere, only returns
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert not isinstance(app.screen, HelpScreen)
        assert app.screen.query_one(Composer).text == "half typed"


async def test_panic_log_view_and_palette_key(home, scripted):
    app = make_app(ws(panic_screen="log"), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        log = str(app.screen.query_one("#panic-log", Static).render())
        assert log.startswith("$ make") and "passed" in log and "Candlelit" not in log
        assert fake_log() == fake_log()  # nothing from a clock
        await pilot.press("ctrl+p")  # the command palette would reveal the app: it returns instead
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_panic_key_is_configurable(home, scripted):
    app = make_app(ws(panic_key="ctrl+backslash"), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f12")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("ctrl+backslash")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        await pilot.press("ctrl+backslash")  # the panic key itself also brings it back
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_notifications_wait_while_hidden(home, scripted):
    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        app.notify("Model Grimsworth failed", markup=False)
        await pilot.pause(0.1)
        assert "Grimsworth" not in screen_text(app)
        assert not list(app._notifications)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await wait_until(pilot, lambda: any("Grimsworth" in n.message for n in app._notifications))


# ---------------------------------------------------------------- encrypted: lock, panic, idle


def encrypted_ws(**privacy) -> Workspace:
    paths = paths_mod.resolve()
    P.create_profile(paths, "sec", passphrase="open sesame")
    return ws("sec", **privacy)


async def unlock(app, pilot, passphrase: str) -> None:
    box = app.screen.query_one("#lock-input", Input)
    box.value = passphrase
    await pilot.press("enter")


async def test_encrypted_profile_starts_locked(home, scripted, fast_kdf):
    app = make_app(encrypted_ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        assert "Mara" not in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, LockScreen)
        await unlock(app, pilot, "wrong one")
        await wait_until(
            pilot, lambda: "Wrong passphrase." in str(app.screen.query_one("#lock-error", Static).render())
        )
        assert isinstance(app.screen, LockScreen) and app.vault is None
        await unlock(app, pilot, "open sesame")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert app.vault is not None and not app.vault.locked


async def test_panic_on_encrypted_profile_needs_the_passphrase(home, scripted, fast_kdf):
    app = make_app(encrypted_ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        await unlock(app, pilot, "open sesame")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        key = app.vault
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        assert key.locked and app.vault is None  # the key reference is dropped
        ask = app.screen.query_one("#panic-ask", Input)
        await pilot.press("x")
        assert isinstance(app.screen, PanicScreen) and ask.has_class("-shown")
        await pilot.press(*"nope", "enter")
        await wait_until(pilot, lambda: not ask.has_class("-shown"))
        assert isinstance(app.screen, PanicScreen)
        await pilot.press("x", *"open sesame", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert app.vault is not None


async def test_idle_lock(home, scripted, fast_kdf):
    app = make_app(encrypted_ws(idle_lock_minutes=2), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        await unlock(app, pilot, "open sesame")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        now = app.clock()
        app.clock = lambda: now + 119
        assert not app.check_idle_lock()
        await pilot.press("down")  # input resets the idle time
        app.clock = lambda: now + 119 + 119
        assert not app.check_idle_lock()
        app.clock = lambda: now + 119 + 121
        assert app.check_idle_lock()
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        assert app.vault is None


async def test_plain_profile_never_idle_locks(home, scripted):
    app = make_app(ws(idle_lock_minutes=1), engine=scripted())
    async with app.run_test(size=(100, 30)):
        now = app.clock()
        app.clock = lambda: now + 3600
        assert not app.check_idle_lock()
        assert isinstance(app.screen, HomeScreen)


# ---------------------------------------------------------------- tripwire


async def ask(app, pilot, text, key, **kw):
    task = asyncio.ensure_future(confirm_send(app, text, **kw))
    await wait_until(
        pilot, lambda: isinstance(app.screen, TripwireScreen) and bool(app.screen.query("#tripwire-question"))
    )
    await pilot.pause(0.05)
    shown = screen_text(app)
    await pilot.press(key)
    return await asyncio.wait_for(task, 5), shown


async def test_tripwire_choices(home, scripted):
    app = make_app(ws(deny_names=["Rosalind Quayle"]), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        assert await confirm_send(app, "The lantern flickers as she smiles.") == "send"
        assert isinstance(app.screen, HomeScreen)
        answer, shown = await ask(app, pilot, "write to me at wren.holt@example.org tonight", "e")
        assert answer == "edit" and "an email address" in shown
        answer, _ = await ask(app, pilot, "call 020 7946 0958", "s")
        assert answer == "send"
        answer, shown = await ask(app, pilot, "tell rosalind   quayle hello", "escape")
        assert answer == "cancel" and "private list" in shown
        assert isinstance(app.screen, HomeScreen)
        # an explicit list replaces the configured one
        assert await confirm_send(app, "tell Rosalind Quayle hello", deny_names=[]) == "send"


async def test_tripwire_can_be_awaited_inside_a_message_handler(home, scripted):
    """The chat screen awaits it in its Composer.Submitted handler: no deadlock."""
    from textual.screen import Screen

    answers: list[str] = []

    class Sender(Screen):
        def compose(self):
            yield Composer(id="composer")

        def on_mount(self):
            self.query_one(Composer).focus()

        async def on_composer_submitted(self, event: Composer.Submitted) -> None:
            answers.append(await confirm_send(self.app, event.text))

    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        sender = Sender()
        app.push_screen(sender)
        await wait_until(pilot, lambda: app.screen is sender and sender.query(Composer))
        sender.query_one(Composer).insert("card 4111 1111 1111 1111 please")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TripwireScreen))
        await pilot.press("c")
        await wait_until(pilot, lambda: answers == ["cancel"])
        assert app.screen is sender


async def test_tripwire_off_sends_without_asking(home, scripted):
    app = make_app(ws(tripwire=False), engine=scripted())
    async with app.run_test(size=(100, 30)):
        assert await confirm_send(app, "mail wren.holt@example.org") == "send"
        assert not isinstance(app.screen, TripwireScreen)


def test_excerpt_highlights_hits_only():
    from tui.core.privacy.tripwire import scan

    text = "x" * 60 + " reach me at wren.holt@example.org " + "y" * 60
    hits = scan(text)
    ex = excerpt(text, hits)
    assert "wren.holt@example.org" in ex.plain and ex.plain.startswith("…") and ex.plain.endswith("…")
    styled = [ex.plain[s.start:s.end] for s in ex.spans]
    assert styled == ["wren.holt@example.org"]


# ---------------------------------------------------------------- stats


def test_stats_text():
    from datetime import date

    from tui.core.profile.usage_stats import DayStats

    days = [DayStats(date(2024, 5, 1), 95.0, 12, 2), DayStats(date(2024, 5, 3), 20.0, 3, 1)]
    text = stats_text(days, date(2024, 5, 3))
    assert "2024-05-01" in text and "1 h 35 min" in text and "Last 7 days: 1 h 55 min, 15 messages." in text
    assert "streak" not in text.lower()
    assert "Nothing recorded yet" in stats_text([], date(2024, 5, 3))


async def test_stats_screen_and_reminders(home, scripted):
    w = ws()
    w.persona()
    start = datetime.now().astimezone().replace(microsecond=0) - timedelta(hours=1)
    record_session(P.usage_file(w.store.root), start, start + timedelta(minutes=42), 7)
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen))
        table = str(app.screen.query_one("#stats-table", Static).render())
        assert "42 min" in table and "7" in table
        assert "streak" not in screen_text(app).lower()
        await pilot.press("m")
        await pilot.press("n")
        saved = P.read_reminders(w.store.root, w.config.privacy)
        assert saved["session_minutes"] == 45 and saved["late_night"] is True
        text = str(app.screen.query_one("#stats-reminders", Static).render())
        assert "after 45 min" in text and "on (23:00" in text
        # the app honours it: a reminder after 45 minutes, then not again at once
        noon = datetime.now().astimezone().replace(hour=12, minute=0)
        app._session_start = noon - timedelta(minutes=50)
        assert "You've been writing for 50 min" in app.check_reminder(now=noon)
        assert app.check_reminder(now=noon + timedelta(minutes=1)) is None
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_usage_is_recorded_on_exit_without_text(home, scripted):
    w = ws()
    chat = w.new_chat("mara")
    app = make_app(w, engine=scripted(["A reply."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(app, pilot, chat.id)
        screen.query_one(Composer).insert("Sevenfold hello")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and len(w.store.messages(chat.id)[0]) == 3)
    lines = P.usage_file(w.store.root).read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["messages"] == 1 and set(entry) == {"v", "start", "end", "messages"}
    assert "Sevenfold" not in lines[0] and chat.id not in lines[0]


async def test_usage_stats_can_be_off(home, scripted):
    w = ws(usage_stats=False)
    chat = w.new_chat("mara")
    app = make_app(w, engine=scripted(["A reply."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(app, pilot, chat.id)
        screen.query_one(Composer).insert("hello")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and len(w.store.messages(chat.id)[0]) == 3)
    assert not P.usage_file(w.store.root).exists()


# ---------------------------------------------------------------- profiles


def labels(app) -> list[str]:
    ol = app.screen.query_one("#profiles", OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


async def test_profile_picker_create_switch_delete(home, scripted):
    w = ws()
    w.new_chat("mara", title="Alexchat")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        assert any(label.startswith("default") and "(open)" in label for label in labels(app))
        await pilot.press("n")
        await pilot.press(*"sam", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ProfilesScreen) and any(label.startswith("sam") for label in labels(app)),
        )
        # deleting the open profile is refused
        app.screen.query_one("#profiles", OptionList).highlighted = 0
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ProfilesScreen) and (home / "profiles" / "default").is_dir()
        assert any("This profile is open" in n.message for n in app._notifications)
        # open sam: its home shows none of default's chats
        await pilot.press("down")
        await wait_until(pilot, lambda: app.screen.query_one("#profiles", OptionList).highlighted == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.ws.profile_name == "sam")
        await pilot.pause(0.1)
        assert "Profile: sam" in screen_text(app)
        assert "Alexchat" not in screen_text(app)
        # delete default from sam, with honest wording
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        app.screen.query_one("#profiles", OptionList).highlighted = 0
        await pilot.press("d")
        await wait_until(pilot, lambda: not isinstance(app.screen, ProfilesScreen))
        question = screen_text(app)
        assert "SSDs" in question
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen) and labels(app)[0].startswith("sam"))
        assert not (home / "profiles" / "default").exists()


async def test_profile_picker_rename_shared_and_encrypted(home, scripted, fast_kdf):
    w = ws()
    w.persona()
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        await pilot.press("s", "y")  # mark the open profile shared
        await wait_until(pilot, lambda: "[shared]" in labels(app)[0])
        await pilot.press("r")
        await wait_until(pilot, lambda: not isinstance(app.screen, ProfilesScreen))
        app.screen.query_one(Input).value = "ours"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen) and labels(app)[0].startswith("ours"))
        assert app.ws.profile_name == "ours"  # the open profile was renamed: the app follows
        await pilot.press("e", *"vault1", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press(*"pw", "enter", *"px", "enter")
        await wait_until(pilot, lambda: "differ" in screen_text(app))
        await pilot.press(*"pw", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ProfilesScreen) and any(label.startswith("vault1") for label in labels(app)),
        )
        assert any("encrypted" in label and "· locked" in label for label in labels(app) if label.startswith("vault1"))
        V.unlock(home / "profiles" / "vault1", "pw").lock()


async def test_profiles_open_only_from_home(home, scripted):
    w = ws()
    chat = w.new_chat("mara")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        await open_chat(app, pilot, chat.id)
        await pilot.press("f2")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ChatScreen)


# ---------------------------------------------------------------- closed leak paths


async def test_devtools_stay_off_even_when_asked(home, scripted, monkeypatch):
    created = []

    class FakeClient:
        def __init__(self, *a, **k):
            created.append(self)

    dev = types.ModuleType("textual_dev")
    client = types.ModuleType("textual_dev.client")
    client.DevtoolsClient = FakeClient
    redirect = types.ModuleType("textual_dev.redirect_output")
    redirect.StdoutRedirector = lambda *a, **k: None
    for name, mod in (("textual_dev", dev), ("textual_dev.client", client), ("textual_dev.redirect_output", redirect)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setenv("TEXTUAL", "devtools,debug")
    app = make_app(ws(), engine=scripted())
    assert app.devtools is None and "devtools" not in app.features
    import textual.constants

    assert textual.constants.LOG_FILE is None


async def test_links_and_screenshots_do_not_leave_the_app(home, scripted, monkeypatch, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        monkeypatch.setattr(app._driver, "open_url", lambda *a, **k: pytest.fail("a link was handed to a browser"))
        app.open_url("https://example.org/x")
        assert app.save_screenshot() == ""
        app.deliver_screenshot()
        await pilot.pause(0.1)
        assert list(cwd.iterdir()) == []
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Screenshot" not in titles and "Quit" in titles
        assert any("Links are not opened" in n.message for n in app._notifications)


async def test_a_crash_report_shows_the_code_path_but_no_local_values(home, scripted, capsys):
    app = make_app(ws(), engine=scripted())
    secret = "Velvet" + "moth"  # built at run time: only a dump of locals could show it whole
    with pytest.raises(RuntimeError, match="deliberate"):
        async with app.run_test(size=(100, 30)) as pilot:
            def crash() -> None:
                private_text = secret  # noqa: F841 - what a locals dump would show
                raise RuntimeError("deliberate")

            app.call_later(crash)
            await pilot.pause(0.2)
    shown = capsys.readouterr().err
    assert "RuntimeError" in shown and "in crash" in shown  # the report still says where
    assert "Velvetmoth" not in shown


async def test_the_new_passphrase_dialog_hints_at_a_guessable_one(home, scripted):
    from tui.ui.screens.profiles import PassphraseScreen

    ws = Workspace(paths_mod.resolve(), Config())
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(PassphraseScreen("A passphrase for the new profile:"))
        await wait_until(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press(*"password1")
        await pilot.pause()
        hint = str(app.screen.query_one("#pass-hint", Static).render())
        assert "easy to guess" in hint
        app.screen.query_one("#pass-1", Input).value = "lantern juniper quarry velvet orbit"
        await pilot.pause()
        assert str(app.screen.query_one("#pass-hint", Static).render()) == ""


async def test_tripwire_catches_the_profiles_own_names(home, scripted):
    w = ws()
    w.set_tripwire_names(["Rosalind Quayle"])  # kept in the profile, not the config
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        answer, shown = await ask(app, pilot, "tell rosalind quayle hello", "escape")
        assert answer == "cancel" and "private list" in shown
