"""Visual regressions at a fixed terminal size (Textual version pinned in
pyproject.toml because releases change rendering): home, help, chat and its
dialogs, memory, the Studio. With ``test_scene_snapshots.py`` and
``test_privacy_snapshots.py``, one snapshot for every screen and modal, each
reached the way a user reaches it (keys on the real app, or ``push_screen``
where a screen opens one), scripted engine, a fresh ``CANDLELIT_HOME`` per
test. Deterministic: no clock text (the home list shows chat times, so no
shot lists a chat on the home screen), no cursor blink (``steady``), waits
on the wanted state instead of sleeps. Shared parts: ``snapshot_app.py``.
"""

from __future__ import annotations

from conftest import wait_until
from snapshot_app import (
    SIZE,
    S,
    candlelit,
    chat_with_memory,
    on_screen,
    open_chat,
    say,
    steady,
    type_into,
    workspace,
)

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app

ChatScreen = S.ChatScreen  # the name the first snapshots use


# --------------------------------------------------------------------------
# home, help, chat, model, studio


def test_home(home, scripted, snap_compare):
    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted())
    assert snap_compare(app, terminal_size=SIZE)


def test_help(home, scripted, snap_compare):
    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted())
    assert snap_compare(app, press=["f1"], terminal_size=SIZE)


def test_chat_after_a_reply(home, scripted, snap_compare):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("vesper", title="Rematch")
    app = make_app(
        ws, engine=scripted(["*Vesper salutes with her sabre.* Again, then. And this time, keep your guard up."])
    )

    async def run_before(pilot):
        app.push_screen(ChatScreen(chat.id))
        while not (isinstance(app.screen, ChatScreen) and app.screen.ready):
            await pilot.pause(0.02)
        composer = app.screen.query_one("#composer")
        composer.cursor_blink = False  # deterministic: the cursor is always drawn
        composer.insert("Best of three?")
        await pilot.press("enter")
        await pilot.pause(0.1)
        while app.screen.busy is not None:
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_model_failed_notice(home, snap_compare):
    app = make_app(Workspace(paths.resolve(), Config()), model_override="/nonexistent/model.gguf")

    async def run_before(pilot):
        while app.model_state != "no model":
            await pilot.pause(0.02)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_studio_mara(home, scripted, snap_compare):
    StudioScreen = S.StudioScreen

    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted(), tokenizer=scripted())

    async def run_before(pilot):
        app.push_screen(StudioScreen("mara"))
        while not (isinstance(app.screen, StudioScreen) and app.screen.ready):
            await pilot.pause(0.02)
        while "counting" in str(app.screen.query_one("#total").render()):
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_on_a_chat_lists_the_chat_keys(home, scripted, snap_compare):
    ws = workspace()
    chat = ws.new_chat("vesper", title="Rematch")
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat.id)
        await pilot.press("f1")
        await steady(pilot, lambda: isinstance(app.screen, S.HelpScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_studio_new_character_is_blank(home, scripted, snap_compare):
    app = candlelit(scripted)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("c")
        await steady(pilot, lambda: isinstance(app.screen, S.StudioScreen) and app.screen.ready
                     and "counting" not in str(app.screen.query_one("#total").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_studio_new_lorebook_entry_dialog(home, scripted, snap_compare):
    app = candlelit(scripted)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, S.StudioScreen) and app.screen.ready)
        app.screen.query_one("#add-lore").press()
        await on_screen(pilot, S.LoreEntryDialog)
        dialog = app.screen
        await type_into(pilot, "#keys", "Pilot, cat")
        dialog.query_one("#content").text = "Pilot is the shop's grey cat."
        await steady(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# --------------------------------------------------------------------------
# dialogs over a chat: search, edit, delete, tripwire


def test_chat_search_asks_for_the_words(home, scripted, snap_compare):
    ws = workspace()
    chat = ws.new_chat("vesper", title="Rematch")
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat.id)
        await pilot.press("ctrl+f")
        await on_screen(pilot, S.AskScreen)
        await type_into(pilot, "#answer", "sabre")
        await steady(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_chat_edit_a_selected_message(home, scripted, snap_compare):
    ws = workspace()
    chat = ws.new_chat("vesper", title="Rematch")
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat.id)
        await pilot.press("up")  # from the empty composer: select the last message
        await pilot.press("e")
        await steady(pilot, lambda: isinstance(app.screen, S.EditScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_chat_confirm_deleting_a_message(home, scripted, snap_compare):
    ws = workspace()
    chat = ws.new_chat("vesper", title="Rematch")
    app = candlelit(scripted, ws, ["Again, then."])

    async def run_before(pilot):
        screen = await open_chat(pilot, chat.id)
        await say(pilot, screen, "Best of three?")
        await wait_until(pilot, lambda: screen.busy is None and screen._views()[-1].msg_id)
        await pilot.press("up", "up")  # the line sent, one reply below it
        await pilot.press("d")
        await steady(pilot, lambda: isinstance(app.screen, S.ConfirmScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_chat_tripwire_on_an_email_address(home, scripted, snap_compare):
    ws = workspace()
    chat = ws.new_chat("vesper", title="Rematch")
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        screen = await open_chat(pilot, chat.id)
        await say(pilot, screen, "write to me at wren.holt@example.org tonight")
        await steady(pilot, lambda: isinstance(app.screen, S.TripwireScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# --------------------------------------------------------------------------
# memory


def test_memory_with_a_summary_and_facts(home, scripted, snap_compare):
    ws = workspace()
    chat_id = chat_with_memory(ws)
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat_id)
        await pilot.press("ctrl+o")
        await steady(pilot, lambda: isinstance(app.screen, S.MemoryScreen) and app.screen.ready)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memory_edit_a_fact(home, scripted, snap_compare):
    ws = workspace()
    chat_id = chat_with_memory(ws)
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat_id)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, S.MemoryScreen) and app.screen.ready)
        await pilot.press("enter")  # the facts list has the focus: edit the highlighted fact
        await steady(pilot, lambda: isinstance(app.screen, S.EditLineScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memory_unsaved_changes_on_leaving(home, scripted, snap_compare):
    ws = workspace()
    chat_id = chat_with_memory(ws)
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await open_chat(pilot, chat_id)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, S.MemoryScreen) and app.screen.ready)
        await pilot.press("p", "escape")  # unpin a fact, then try to leave
        await steady(pilot, lambda: isinstance(app.screen, S.UnsavedChangesScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
