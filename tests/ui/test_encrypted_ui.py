"""Pilot tests of an encrypted profile in the app: it opens locked, the
passphrase shows its own chats, everything written goes through the sealed
layer, and locking (idle, panic, switching profile) closes what showed it."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_until
from textual.widgets import Input, OptionList, Static

from tui.core import paths as paths_mod
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.privacy import vault as V
from tui.core.privacy.sealed_fs import SealedFS
from tui.core.profile import profiles as P
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.memory import MemoryScreen
from tui.ui.screens.panic import LockScreen, PanicScreen
from tui.ui.screens.profiles import ProfilesScreen, profile_label
from tui.ui.screens.stats import StatsScreen
from tui.ui.widgets.composer import Composer

PASS = "open sesame"
SECRET = "Vermilionquay whispered"  # a message: must never be on disk in plain, nor on screen once locked
TITLE = "Lanternfall"


def cfg(profile: str, **privacy) -> Config:
    return replace(Config(), chat={"profile": profile}, privacy=privacy)


def encrypted_profile(name: str = "sec", *, chat: bool = True, **privacy) -> tuple[Workspace, str | None]:
    """An encrypted profile (optionally with one chat holding SECRET) and
    its workspace as the app gets it at start: locked."""
    paths = paths_mod.resolve()
    P.create_profile(paths, name, passphrase=PASS)
    chat_id = None
    if chat:
        opened = Workspace(paths, cfg(name, **privacy), vault=V.unlock(paths.profile(name), PASS))
        info = opened.new_chat("mara", title=TITLE)
        opened.store.append(info.id, Message.new("User", "user", SECRET))
        chat_id = info.id
        opened.lock()
    return Workspace(paths, cfg(name, **privacy)), chat_id


def home_lists(app) -> tuple[list[str], list[str]]:
    home = next(s for s in app.screen_stack if isinstance(s, HomeScreen))
    out = []
    for list_id in ("#characters", "#chats"):
        ol = home.query_one(list_id, OptionList)
        out.append([str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)])
    return out[0], out[1]


def all_text(app) -> str:
    """Every piece of text any widget of any screen on the stack holds."""
    parts = [str(app.title), str(app.sub_title)]
    for screen in app.screen_stack:
        parts += [str(screen.title or ""), str(screen.sub_title or "")]
        for w in screen.walk_children(with_self=False):
            for attr in ("text", "value", "speaker", "source", "tooltip"):
                value = getattr(w, attr, None)
                if isinstance(value, str):
                    parts.append(value)
            if isinstance(w, Static):
                parts.append(str(w.render()))
            if isinstance(w, OptionList):
                parts += [str(w.get_option_at_index(i).prompt) for i in range(w.option_count)]
    return "\n".join(parts)


def screen_text(app) -> str:
    return app.export_screenshot(title="shot").replace("&#160;", " ")


async def unlock(app, pilot, passphrase: str = PASS) -> None:
    app.screen.query_one("#lock-input", Input).value = passphrase
    await pilot.press("enter")


async def start_unlocked(app, pilot) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
    await unlock(app, pilot)
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and not app.ws.locked)
    await wait_until(pilot, lambda: bool(home_lists(app)[0]))


async def open_chat(app, pilot, chat_id: str) -> ChatScreen:
    app.push_screen(ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


def assert_closed(app, chat: ChatScreen) -> None:
    """What a lock must leave: no chat screen, nothing of the profile held by a widget, no key."""
    assert not any(isinstance(s, ChatScreen) for s in app.screen_stack)
    assert not chat.is_attached
    text = all_text(app)
    assert SECRET not in text and TITLE not in text
    assert home_lists(app) == ([], [])
    assert app.ws.locked and app.vault is None


def profile_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# ---------------------------------------------------------------- start, unlock


async def test_starts_locked_with_empty_home_and_unlocks_to_its_chats(home, scripted, fast_kdf):
    ws, _chat_id = encrypted_profile()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        homescreen = next(s for s in app.screen_stack if isinstance(s, HomeScreen))
        await wait_until(pilot, lambda: "locked" in str(homescreen.query_one("#profile", Static).render()))
        assert app.ws.locked and home_lists(app) == ([], [])
        assert TITLE not in all_text(app)
        await unlock(app, pilot, "not it")
        await wait_until(
            pilot, lambda: "Wrong passphrase." in str(app.screen.query_one("#lock-error", Static).render())
        )
        assert isinstance(app.screen, LockScreen) and app.ws.locked and home_lists(app) == ([], [])
        await unlock(app, pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and not app.ws.locked)
        await wait_until(pilot, lambda: any(TITLE in c for c in home_lists(app)[1]))
        chars, _chats = home_lists(app)
        assert any("Mara" in c and "(1 chat)" in c for c in chars)
        assert "Profile: sec" in screen_text(app)
        assert "locked" not in str(homescreen.query_one("#profile", Static).render())
        assert app.vault is not None and not app.vault.locked


async def test_damaged_index_keeps_it_locked_and_says_why(home, scripted, fast_kdf):
    ws, _ = encrypted_profile()
    index = ws.profile_dir / "index.age"
    blob = bytearray(index.read_bytes())
    blob[-5] ^= 0x55
    index.write_bytes(bytes(blob))
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        await unlock(app, pilot)  # the right passphrase: the key opens, the profile does not
        error = lambda: str(app.screen.query_one("#lock-error", Static).render())  # noqa: E731
        await wait_until(pilot, lambda: error() not in ("", "Checking…"))
        assert isinstance(app.screen, LockScreen) and app.ws.locked and app.vault is None
        assert "Wrong passphrase" not in error()


async def test_panic_unlock_with_a_damaged_index_shows_the_lock_screen(home, scripted, fast_kdf):
    ws, _ = encrypted_profile()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen) and app.ws.locked)
        index = ws.profile_dir / "index.age"
        index.write_bytes(index.read_bytes()[:-7])  # cut short while it was locked
        await pilot.press("x", *PASS, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen))
        error = str(app.screen.query_one("#lock-error", Static).render())
        assert error and "Wrong passphrase" not in error
        assert app.ws.locked and app.vault is None and home_lists(app) == ([], [])


# ---------------------------------------------------------------- writing: sealed only


async def test_new_chat_and_message_are_written_encrypted_only(home, scripted, fast_kdf):
    ws, _ = encrypted_profile(chat=False)
    app = make_app(ws, engine=scripted(["Brasswillow answers softly."]))
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        chars = app.screen.query_one("#characters", OptionList)
        chars.highlighted = chars.get_option_index("mara")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        chat.query_one(Composer).insert(SECRET)
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.busy is None and len(app.ws.store.messages(chat.chat_id)[0]) == 3)
        chat_id = chat.chat_id
    # the app has exited (usage recorded, caches saved): look at every file
    folder = ws.profile_dir
    files = profile_files(folder)
    allowed = {"vault.age", "vault.toml", "index.age", "index.lock"}
    for f in files:
        rel = f.relative_to(folder)
        assert str(rel) in allowed or (rel.parent == Path("files") and f.suffix == ".age"), rel
    for f in files:
        data = f.read_bytes()
        for needle in (SECRET, "Brasswillow", chat_id, "Mara"):
            assert needle.encode() not in data, (f, needle)
    assert len([f for f in files if f.parent.name == "files"]) >= 3
    # and it is there, for the key
    sealed = SealedFS(V.unlock(folder, PASS))
    try:
        stored = Workspace(ws.paths, ws.config, vault=sealed.vault).store.messages(chat_id)[0]
        assert [m.text for m in stored[1:]] == [SECRET, "Brasswillow answers softly."]
        assert (sealed.root / P.USAGE_FILE).is_file()  # the session's stats, sealed too
    finally:
        sealed.lock()


# ---------------------------------------------------------------- locking


async def test_idle_lock_closes_the_chat_and_unlock_reopens_it(home, scripted, fast_kdf):
    ws, chat_id = encrypted_profile(idle_lock_minutes=2)
    engine = scripted()
    forgotten: list[bool] = []
    engine.forget = lambda: forgotten.append(True)  # the real engine drops its KV cache and tokens
    app = make_app(ws, engine=engine)
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        chat = await open_chat(app, pilot, chat_id)
        forgotten.clear()  # (starting locked forgot too)
        await pilot.press("tab")  # the memory screen and stats above the chat go too
        chat.action_memory()
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen))
        await pilot.pause()
        app.action_stats()
        await wait_until(pilot, lambda: isinstance(app.screen, StatsScreen))
        await pilot.pause()  # (a screen popped in the very tick it was pushed trips Textual's Header)
        assert SECRET in all_text(app)
        now = app.clock()
        app.clock = lambda: now + 121
        assert app.check_idle_lock()
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and len(app.screen_stack) == 3)
        await pilot.pause(0.1)
        assert_closed(app, chat)
        assert forgotten == [True]
        assert not any(isinstance(s, (MemoryScreen, StatsScreen)) for s in app.screen_stack)
        assert SECRET not in screen_text(app)
        await unlock(app, pilot)
        await wait_until(
            pilot, lambda: isinstance(app.screen, HomeScreen) and any(TITLE in c for c in home_lists(app)[1])
        )
        lst = app.screen.query_one("#chats", OptionList)
        lst.focus()
        lst.highlighted = lst.get_option_index(chat_id)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        assert any(v.text == SECRET for v in app.screen.query("MessageView"))


async def test_lock_while_a_reply_streams_stops_it_without_a_crash(home, scripted, fast_kdf):
    ws, chat_id = encrypted_profile()
    engine = scripted(["one two three four five six seven"])
    app = make_app(ws, engine=engine)
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        chat = await open_chat(app, pilot, chat_id)
        engine.gate.clear()  # the reply waits before its first word
        chat.query_one(Composer).insert("go on")
        await pilot.press("enter")
        await wait_until(pilot, lambda: chat.busy == "reply" and engine.requests)
        cancel = chat.cancel
        app.lock_now()
        assert cancel.is_set() and app.ws.locked  # stopped before the key went
        engine.gate.set()  # the worker wakes up to a locked profile
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and not chat.is_attached)
        await pilot.pause(0.2)
        assert app.is_running
        assert_closed(app, chat)
        await unlock(app, pilot)
        await wait_until(
            pilot, lambda: isinstance(app.screen, HomeScreen) and any(TITLE in c for c in home_lists(app)[1])
        )


async def test_panic_on_encrypted_profile_locks_like_a_lock(home, scripted, fast_kdf):
    ws, chat_id = encrypted_profile()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        chat = await open_chat(app, pilot, chat_id)
        chat.query_one(Composer).insert("half typed")
        key = app.vault
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen) and not chat.is_attached)
        assert key.locked
        assert_closed(app, chat)
        assert "half typed" not in all_text(app)
        await pilot.press("x", *"nope", "enter")  # a wrong passphrase: still the panic screen, still locked
        await wait_until(pilot, lambda: not app.screen.query_one("#panic-ask", Input).has_class("-shown"))
        assert isinstance(app.screen, PanicScreen) and app.ws.locked
        await pilot.press("x", *PASS, "enter")
        await wait_until(
            pilot, lambda: isinstance(app.screen, HomeScreen) and any(TITLE in c for c in home_lists(app)[1])
        )
        assert not app.ws.locked and app.vault is not None
        reopened = await open_chat(app, pilot, chat_id)
        assert any(v.text == SECRET for v in reopened.query("MessageView"))


async def test_ctrl_l_locks_an_encrypted_profile_even_while_typing(home, scripted, fast_kdf):
    from tui.ui.screens.help import HelpScreen

    ws, chat_id = encrypted_profile()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await start_unlocked(app, pilot)
        app.action_help()
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.query(Static))
        assert "Lock the profile now" in str(app.screen.query_one(Static).render())
        await pilot.press("escape")
        chat = await open_chat(app, pilot, chat_id)
        chat.query_one(Composer).focus()
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and not chat.is_attached)
        assert app.ws.locked and app.vault is None
        assert SECRET not in all_text(app)


async def test_ctrl_l_is_not_offered_on_a_plain_profile(home, scripted):
    from tui.ui.screens.help import HelpScreen

    app = make_app(Workspace(paths_mod.resolve(), cfg("default")), engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HomeScreen)
        app.action_help()
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.query(Static))
        help_text = str(app.screen.query_one(Static).render())
        assert "Lock the profile now" not in help_text and "panic key" in help_text


async def test_panic_on_plain_profile_keeps_the_chat(home, scripted):
    w = Workspace(paths_mod.resolve(), cfg("default"))
    info = w.new_chat("mara", title=TITLE)
    w.store.append(info.id, Message.new("User", "user", SECRET))
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        chat = await open_chat(app, pilot, info.id)
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, PanicScreen))
        assert SECRET not in screen_text(app)
        assert chat in app.screen_stack and chat.is_attached and not app.ws.locked
        await pilot.press("x")
        await wait_until(pilot, lambda: app.screen is chat)
        assert any(v.text == SECRET for v in chat.query("MessageView"))


# ---------------------------------------------------------------- profiles


async def test_switching_to_an_encrypted_profile_opens_it_locked(home, scripted, fast_kdf):
    plain = Workspace(paths_mod.resolve(), cfg("default"))
    plain.new_chat("mara", title="Plainsong")
    encrypted_profile()
    app = make_app(plain, engine=scripted())
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        ol = app.screen.query_one("#profiles", OptionList)
        labels = [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]
        assert any(label.startswith("sec  · locked") and "[encrypted]" in label for label in labels), labels
        assert any(label.startswith("default  · 1 chat") for label in labels), labels
        ol.highlighted = ol.get_option_index("sec")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and app.ws.profile_name == "sec")
        assert app.ws.locked and home_lists(app) == ([], [])
        assert "Plainsong" not in all_text(app)
        await unlock(app, pilot)
        await wait_until(
            pilot, lambda: isinstance(app.screen, HomeScreen) and any(TITLE in c for c in home_lists(app)[1])
        )
        assert not any("Plainsong" in c for c in home_lists(app)[1])
        # the open, unlocked profile shows its counts; switching away locks it again
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        ol = app.screen.query_one("#profiles", OptionList)
        labels = [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]
        assert any(label.startswith("sec  · 1 chat · ") and "(open)" in label for label in labels), labels
        key = app.vault
        ol.highlighted = ol.get_option_index("default")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.ws.profile_name == "default")
        assert key.locked and app.vault is None and not app.ws.encrypted
        await wait_until(pilot, lambda: any("Plainsong" in c for c in home_lists(app)[1]))


def test_profile_label_of_a_locked_profile(tmp_path):
    info = P.ProfileInfo("sec", tmp_path, True, True, None, None)
    assert profile_label(info, "other") == "sec  · locked  [shared, encrypted]"
    info = P.ProfileInfo("alex", tmp_path, False, False, 1, 2)
    assert profile_label(info, "alex") == "alex  · 1 chat · 2 characters  (open)"
