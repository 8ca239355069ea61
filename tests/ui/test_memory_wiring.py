"""The chat screen keeps memory up to date after replies and opens the Memory screen."""

from __future__ import annotations

from conftest import wait_until

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.memory.document import load_memory
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.memory import MemoryScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.status_bar import StatusBar


async def test_a_full_window_is_folded_after_a_reply_and_shown_on_the_memory_screen(home, scripted):
    cfg = replace(Config(), prompt={"window_budget": 120}, chat={"user_name": "Sam"})
    ws = Workspace(paths.resolve(), cfg)
    chat = ws.new_chat("mara")
    for i in range(6):
        ws.store.append(chat.id, Message.new("Sam", "user", f"Line {i}: the lighthouse lamp needs oil."))
        ws.store.append(chat.id, Message.new("Mara", "assistant", f"Answer {i}: I will bring a can tomorrow."))
    engine = scripted(["Sure, see you then.", "Sam asked Mara to bring oil for the lamp.", "- The lamp needs oil"])
    app = make_app(ws, engine=engine)
    async with app.run_test(size=(110, 32)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        screen.query_one(Composer).insert("Thanks!")
        await pilot.press("enter")
        await wait_until(pilot, lambda: load_memory(chat.path).folded_upto is not None, timeout=10)
        m = load_memory(chat.path)
        assert "bring oil for the lamp" in m.summary
        await wait_until(pilot, lambda: screen.query_one(StatusBar).memory == "")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen) and app.screen.ready)
        assert "bring oil for the lamp" in app.screen.collect().summary
