"""Pilot tests of the real app on a test home, with a scripted engine."""

from __future__ import annotations

from conftest import wait_until
from textual.widgets import Markdown, OptionList, Static

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.help import HelpScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar


def ws() -> Workspace:
    return Workspace(paths.resolve(), Config())


async def test_home_lists_characters_and_chats(home, scripted):
    w = ws()
    w.new_chat("vesper", title="Rematch [bold]night[/]")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)):
        chars = app.screen.query_one("#characters", OptionList)
        labels = [str(chars.get_option_at_index(i).prompt) for i in range(chars.option_count)]
        assert any(
            label.startswith("Mara — Mara is a 34-year-old bookseller.") and "(0 chats)" in label for label in labels
        )
        assert any(label.startswith("Vesper") and "(1 chat)" in label for label in labels)
        chats = app.screen.query_one("#chats", OptionList)
        assert "Rematch [bold]night[/]" in str(chats.get_option_at_index(0).prompt)


async def test_new_chat_send_and_stream(home, scripted):
    w = ws()
    eng = scripted(["Pull up a chair; the kettle is on."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")  # first character (mara): new chat
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        views = list(screen.query(MessageView))
        assert views[0].speaker == "Mara" and views[0].text.startswith("The bell over the door")  # the greeting
        composer = screen.query_one(Composer)
        composer.insert("Hello Mara")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and len(screen.query(MessageView)) == 3)
        views = list(screen.query(MessageView))
        assert views[1].text == "Hello Mara" and views[1].role == "user"
        assert views[2].text == "Pull up a chair; the kettle is on." and views[2].msg_id
        assert composer.text == ""
        status = screen.query_one(StatusBar)
        rendered = str(status.render())
        assert "LOCAL" in rendered and "42.0 tok/s" in rendered and "ttft 0.01s" in rendered
        msgs, _ = w.store.messages(screen.chat_id)
        assert [m.text for m in msgs[1:]] == ["Hello Mara", "Pull up a chair; the kettle is on."]
        # the prompt the engine got ends with the reply prefix and stops at the user's line
        assert eng.requests[0].stop == ["\nUser:"]


async def test_escape_stops_and_keeps_partial(home, scripted):
    w = ws()
    eng = scripted(["one two three four five six seven eight nine ten"], delay=0.05)
    chat = w.new_chat("mara")
    app = make_app(w, engine=eng)
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        screen.query_one(Composer).insert("Tell me a story")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.streaming is not None and "two" in screen.streaming.text)
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen.busy is None)
        last = list(screen.query(MessageView))[-1]
        assert last.status == "stopped" and last.text.startswith("one two") and "ten" not in last.text
        assert "(stopped)" in str(last.query_one(".mark", Static).render())
        stored = w.store.messages(chat.id)[0][-1]
        assert stored.status == "stopped" and stored.text == last.text
        assert isinstance(app.screen, ChatScreen)  # Esc while streaming does not leave the chat


async def test_markup_and_escapes_render_literally(home, scripted):
    nasty = "[bold]x[/] [link=https://evil.example]click[/link] [/] \x1b[31mred\x1b]52;c;Zm9v\x07 \x1b]8;;http://x\x1b\\y"
    w = ws()
    eng = scripted([nasty])
    chat = w.new_chat("mara", title="[red]t[/]")
    app = make_app(w, engine=eng)
    async with app.run_test(size=(120, 30)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        screen.query_one(Composer).insert("[i]me[/i] \x1b[2J")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and len(screen.query(MessageView)) == 3)
        views = list(screen.query(MessageView))
        body = views[2].query_one(Markdown)
        shown = body.source
        assert "\x1b" not in shown and "\x07" not in shown
        assert "[bold]x[/]" in shown and "[link=https://evil.example]click[/link]" in shown
        assert "\u241b[31mred" in shown
        assert "[i]me[/i] \u241b[2J" in views[1].query_one(Markdown).source
        # the stored text is exactly what was generated/typed
        msgs, _ = w.store.messages(chat.id)
        assert msgs[-1].text == nasty.strip() and msgs[-2].text == "[i]me[/i] \x1b[2J"


async def test_help_lists_bindings(home, scripted):
    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one(Static).render())
        for needle in ("New chat", "Delete chat", "Rename chat", "Quit", "Help"):
            assert needle in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_text_is_kept_while_model_loads(home):
    w = ws()
    chat = w.new_chat("mara")
    app = make_app(w, model_override="/nonexistent/model.gguf")
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        await wait_until(pilot, lambda: app.model_state == "no model")
        composer = app.screen.query_one(Composer)
        composer.insert("please keep me")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert composer.text == "please keep me"
        assert len(w.store.messages(chat.id)[0]) == 1  # nothing sent


async def test_delete_and_rename_chat(home, scripted):
    w = ws()
    a = w.new_chat("mara", title="first")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        app.screen.query_one("#chats", OptionList).focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: bool(app.screen.query("#answer")))
        inp = app.screen.query_one("#answer")
        inp.value = "renamed"
        await pilot.press("enter")
        await wait_until(pilot, lambda: w.store.chat(a.id).title == "renamed")
        await pilot.press("d")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await wait_until(pilot, lambda: w.store.list_chats() == [])


async def test_command_palette_offers_screen_actions(home, scripted):
    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"New chat", "Rename chat", "Delete chat", "Help"} <= set(titles)
        chat = app.ws.new_chat("mara")
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Regenerate", "Continue", "Impersonate", "Search", "Stop / Back"} <= set(titles)


async def test_branch_is_listed_with_its_parent(home, scripted):
    w = ws()
    chat = w.new_chat("mara", title="Rainy day")
    first = w.store.messages(chat.id)[0][0]
    w.store.branch_chat(chat.id, first.id, title="Rainy day, again")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(120, 30)):
        chats = app.screen.query_one("#chats", OptionList)
        labels = [str(chats.get_option_at_index(i).prompt) for i in range(chats.option_count)]
        assert any("Rainy day, again" in label and "branch of “Rainy day”" in label for label in labels)


async def test_disk_full_keeps_the_typed_text(home, scripted, monkeypatch):
    import errno

    from tui.core import fsio

    w = ws()
    chat = w.new_chat("mara")
    app = make_app(w, engine=scripted())
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen

        def full(*a, **k):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(fsio.os, "write", full)
        screen.query_one(Composer).insert("words I must not lose")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and screen.query_one(Composer).text)
        assert screen.query_one(Composer).text == "words I must not lose"
        assert len(screen.query(MessageView)) == 1  # only the greeting is shown
        monkeypatch.undo()
        assert isinstance(app.screen, ChatScreen)  # still running
    assert len(w.store.messages(chat.id)[0]) == 1
