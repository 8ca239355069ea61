"""The Textual app's home screen (placeholder until the chat UI lands)."""

from __future__ import annotations

from textual.widgets import Static

from tui import paths
from tui.config import Config
from tui.core.workspace import Workspace
from tui.ui.app import make_app


async def test_home_lists_starters_and_chats(home):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("vesper", title="Rematch [bold]night[/]")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        chars = str(app.query_one("#characters", Static).render())
        assert "Mara (mara)" in chars and "Vesper (vesper)" in chars and "The Narrator" in chars
        chats = str(app.query_one("#chats", Static).render())
        assert "Rematch [bold]night[/]" in chats and chat.id in chats  # shown literally
        await pilot.press("q")
    assert app.return_code == 0
