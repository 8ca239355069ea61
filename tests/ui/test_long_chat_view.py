"""The chat view is virtual: a 50,000-message chat mounts a bounded number of
message widgets, pages in older and newer messages, and search reaches
every message (Pilot, scripted engine)."""

from __future__ import annotations

from conftest import wait_until

from tui.bench.long_chat_data import fill_chat
from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.chat_window import MAX_MOUNTED
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView

N = 50_000


def views(screen):
    return list(screen.query(MessageView))


async def open_long_chat(pilot, app, chat_id):
    app.push_screen(ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, timeout=30)
    return app.screen


def long_ws():
    ws = Workspace(paths.resolve(), replace(Config(), memory={"enabled": False}))
    chat = ws.new_chat("mara")
    fill_chat(ws.store, chat.id, N)
    return ws, chat


async def test_opening_shows_the_end_with_few_widgets(home, scripted):
    ws, chat = long_ws()
    app = make_app(ws, engine=scripted(["A new reply."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_long_chat(pilot, app, chat.id)
        shown = views(screen)
        assert 0 < len(shown) <= MAX_MOUNTED
        assert shown[-1].text.startswith(f"Line {N}:")
        assert screen.at_end and screen.first == N - len(shown)

        # Home on a message: the first message of the chat, still few widgets
        await pilot.press("up")
        await wait_until(pilot, lambda: isinstance(screen.focused, MessageView))
        await pilot.press("home")
        await wait_until(pilot, lambda: views(screen)[0].text.startswith("Line 1:"))
        assert screen.focused is views(screen)[0]
        assert len(views(screen)) <= MAX_MOUNTED and not screen.at_end

        # walking down from the top pages newer messages in, in order, bounded
        for _ in range(70):
            await pilot.press("down")
        texts = [v.text for v in views(screen)]
        assert screen.focused.text.startswith("Line 71:")
        numbers = [int(t.split(":")[0].split()[1]) for t in texts]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert len(texts) <= MAX_MOUNTED

        # End: back to the last message
        await pilot.press("end")
        await wait_until(pilot, lambda: screen.at_end and views(screen)[-1].text.startswith(f"Line {N}:"))

        # sending from anywhere lands at the end, after the last message
        await pilot.press("home")
        await wait_until(pilot, lambda: screen.first == 0)
        screen.query_one(Composer).focus()
        screen.query_one(Composer).insert("Back again.")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and views(screen)[-1].text == "A new reply.")
        assert views(screen)[-2].text == "Back again." and screen.at_end
        assert ws.store.count(chat.id) == N + 2
        assert all(v.msg_id for v in views(screen))
        last_two = ws.store.tail(chat.id, 2)[0]
        assert [v.msg_id for v in views(screen)[-2:]] == [m.id for m in last_two]


async def test_scrolling_up_loads_older_pages_in_place(home, scripted):
    ws, chat = long_ws()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_long_chat(pilot, app, chat.id)
        first_before = screen.first
        top_view = views(screen)[0]
        box = screen.query_one("#messages")
        box.scroll_home(animate=False)
        await wait_until(pilot, lambda: screen.first < first_before)
        # what was at the top is still on screen: the page went in above it
        await pilot.pause()
        assert top_view in views(screen)
        assert box.scroll_y > 0
        region = top_view.region
        assert box.region.y <= region.y < box.region.bottom
        numbers = [int(v.text.split(":")[0].split()[1]) for v in views(screen)]
        assert numbers == list(range(screen.first + 1, screen.first + 1 + len(numbers)))


async def test_search_reaches_the_whole_chat(home, scripted):
    ws, chat = long_ws()
    app = make_app(ws, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_long_chat(pilot, app, chat.id)
        # "Line 123:" starts message 123 only; "Line 1234" message 1234 too, and 12340...
        found = await screen.find("Line 1234")
        assert found == 11  # 1234, 12340..12349
        await wait_until(pilot, lambda: isinstance(screen.focused, MessageView))
        focused = screen.focused
        assert focused.text.startswith("Line 1234:")
        assert focused.has_class("match")
        assert len(views(screen)) <= MAX_MOUNTED
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.focused.text.startswith("Line 12340:"))
        await pilot.press("N")
        await wait_until(pilot, lambda: screen.focused.text.startswith("Line 1234:"))
        await pilot.press("N")  # wraps to the last match
        await wait_until(pilot, lambda: screen.focused.text.startswith("Line 12349:"))
