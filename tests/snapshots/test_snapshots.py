"""Visual regressions at a fixed terminal size (Textual version pinned in
pyproject.toml because releases change rendering)."""

from __future__ import annotations

from tui.core import paths
from tui.core.config.settings import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen

SIZE = (100, 32)


def test_home(home, scripted, snap_compare):
    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted())
    assert snap_compare(app, terminal_size=SIZE)


def test_help(home, scripted, snap_compare):
    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted())
    assert snap_compare(app, press=["f1"], terminal_size=SIZE)


def test_chat_after_a_reply(home, scripted, snap_compare):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("vesper", title="Rematch")
    app = make_app(ws, engine=scripted(["*Vesper salutes with her sabre.* Again, then. And this time, keep your guard up."]))

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
    from tui.ui.screens.studio import StudioScreen

    app = make_app(Workspace(paths.resolve(), Config()), engine=scripted(), tokenizer=scripted())

    async def run_before(pilot):
        app.push_screen(StudioScreen("mara"))
        while not (isinstance(app.screen, StudioScreen) and app.screen.ready):
            await pilot.pause(0.02)
        while "counting" in str(app.screen.query_one("#total").render()):
            await pilot.pause(0.02)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
