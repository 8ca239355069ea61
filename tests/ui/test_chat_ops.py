"""Pilot tests for every chat operation, on the real app with a scripted engine."""

from __future__ import annotations

from conftest import wait_until
from textual.widgets import TextArea

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message
from tui.ui.app import make_app
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import EditScreen
from tui.ui.screens.chat import ChatScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView


async def open_chat(pilot, app, chat_id):
    app.push_screen(ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


async def say(pilot, screen, text):
    screen.query_one(Composer).insert(text)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.busy is None and screen.streaming is None)


def views(screen):
    return list(screen.query(MessageView))


def stored(ws, chat_id):
    return ws.store.messages(chat_id)[0]


async def test_regenerate_and_swipes(home, scripted):
    # memory off: the scripted replies are for the swipes, not for summaries
    ws = Workspace(paths.resolve(), replace(Config(), memory={"enabled": False}))
    chat = ws.new_chat("mara")
    app = make_app(ws, engine=scripted(["First answer.", "Second answer.", "Third answer."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        await say(pilot, screen, "Hi")
        assert views(screen)[-1].text == "First answer."
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.busy is None and views(screen)[-1].text == "Second answer.")
        assert len(views(screen)) == 3 and views(screen)[-1].swipe_pos == (1, 2)
        assert "swipe 2/2" in str(views(screen)[-1].query_one(".mark").render())
        await pilot.press("left")
        await wait_until(pilot, lambda: views(screen)[-1].text == "First answer.")
        assert stored(ws, chat.id)[-1].text == "First answer."  # the chosen swipe is what the next prompt sees
        await pilot.press("right")
        await wait_until(pilot, lambda: views(screen)[-1].text == "Second answer.")
        await pilot.press("right")  # right on the last swipe generates a new one
        await wait_until(pilot, lambda: screen.busy is None and views(screen)[-1].text == "Third answer.")
        last = stored(ws, chat.id)[-1]
        assert last.swipes() == ["First answer.", "Second answer.", "Third answer."] and last.swipe_index() == 2


async def test_continue_extends_last_reply(home, scripted):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("mara")
    app = make_app(ws, engine=scripted(["It was raining.", "And the tea was warm."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        await say(pilot, screen, "Hi")
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: screen.busy is None and "tea" in views(screen)[-1].text)
        text = stored(ws, chat.id)[-1].text
        assert text.startswith("It was raining.") and text.endswith("And the tea was warm.")
        assert views(screen)[-1].text == text


async def test_impersonate_drafts_into_composer(home, scripted):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("mara")
    eng = scripted(["I lean on the counter and smile."])
    app = make_app(ws, engine=eng)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        n = len(stored(ws, chat.id))
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.busy is None)
        assert screen.query_one(Composer).text == "I lean on the counter and smile."
        assert len(stored(ws, chat.id)) == n  # nothing stored until the user sends it
        assert eng.requests[-1].stop and any("Mara" in s for s in eng.requests[-1].stop)


async def test_edit_delete_copy_branch_search(home, scripted):
    ws = Workspace(paths.resolve(), Config())
    chat = ws.new_chat("mara")
    app = make_app(ws, engine=scripted(["Reply one about lanterns.", "Reply two."]))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        await say(pilot, screen, "First question")
        await say(pilot, screen, "Second question")
        assert len(views(screen)) == 5

        # select messages: up from an empty composer focuses the last one
        await pilot.press("up")
        assert screen.focused is views(screen)[-1]
        await pilot.press("up")
        assert screen.focused is views(screen)[-2]

        await pilot.press("c")
        assert app.clipboard == "Second question"

        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EditScreen))
        app.screen.query_one(TextArea).text = "Second question, edited"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: stored(ws, chat.id)[3].text == "Second question, edited")
        await wait_until(pilot, lambda: views(screen)[3].text == "Second question, edited")

        # search
        await screen.find("lanterns")
        assert [v.has_class("match") for v in views(screen)] == [False, False, True, False, False]

        # branch from the first reply
        views(screen)[2].focus()
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen is not screen and app.screen.ready
        )
        branch = app.screen
        info = ws.store.chat(branch.chat_id)
        assert info.parent == chat.id
        assert [m.text for m in stored(ws, branch.chat_id)][-1] == "Reply one about lanterns."
        assert len(stored(ws, branch.chat_id)) == 3

        # delete from the first question in the branch, with confirmation
        views(branch)[1].focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: len(stored(ws, branch.chat_id)) == 1)
        await wait_until(pilot, lambda: len(views(branch)) == 1)
        assert len(stored(ws, chat.id)) == 5  # the parent chat is untouched


async def test_the_tripwire_asks_before_sending_identifying_data(home, scripted):
    from tui.ui.screens.tripwire import TripwireScreen

    ws = Workspace(paths.resolve(), replace(Config(), memory={"enabled": False}))
    chat = ws.new_chat("mara")
    app = make_app(ws, engine=scripted(["Noted."]))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        screen.query_one(Composer).insert("Write to me at sam.rivera@example.com")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TripwireScreen))
        await pilot.press("e")  # edit: nothing is sent, the text stays
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.query_one(Composer).text == "Write to me at sam.rivera@example.com"
        assert [m.role for m in stored(ws, chat.id)] == ["assistant"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TripwireScreen))
        await pilot.press("s")  # send anyway
        await wait_until(pilot, lambda: len(stored(ws, chat.id)) == 3 and screen.busy is None)
        assert stored(ws, chat.id)[1].text == "Write to me at sam.rivera@example.com"


async def test_copy_is_plain_text_and_the_clipboard_is_cleared_again(home, scripted):
    cfg = replace(Config(), privacy={"clipboard_clear_s": 1})
    ws = Workspace(paths.resolve(), cfg)
    chat = ws.new_chat("mara")
    ws.store.append(chat.id, Message.new("Sam", "user", "hi \x1b]52;c;aGk=\x07 there \u202e"))
    app = make_app(ws, engine=scripted(["Reply."]))
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        await pilot.press("up")
        await pilot.press("c")
        assert app.clipboard == "hi \u241b]52;c;aGk=\u2407 there \u2395"  # nothing a terminal obeys
        await pilot.pause(1.3)
        assert app.clipboard == ""
        # a newer copy is not cleared by the older copy's timer
        await pilot.press("c")
        await pilot.pause(0.6)
        app.copy_text("newer")
        await pilot.pause(0.6)
        assert app.clipboard == "newer"
        assert screen is app.screen
