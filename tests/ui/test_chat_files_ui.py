"""Pilot tests: import a SillyTavern chat from the home screen's import prompt
(i), export the open chat from the command palette."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import wait_until
from textual.widgets import Input, OptionList

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.profile.st_import import import_st_chat
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.home import HomeScreen

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "st"
SIZE = (110, 40)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """SillyTavern's humanized dates are local time: pin the zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def start(scripted):
    w = Workspace(paths.resolve(), Config())
    app = make_app(w, engine=scripted(), tokenizer=scripted())
    notices: list[str] = []
    real_notify = app.notify

    def notify(message, *args, **kw):
        notices.append(f"{kw.get('title') or ''}|{message}")
        return real_notify(message, *args, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return w, app, notices


async def test_home_import_prompt_takes_a_sillytavern_chat(home, scripted):
    w, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        home_screen = app.screen
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        assert "SillyTavern chat (.jsonl)" in app.screen.question
        app.screen.query_one(Input).value = f"'{FIXTURES / 'group_shop.jsonl'}' "  # as a terminal pastes a drop
        await pilot.press("enter")
        await wait_until(pilot, lambda: any("Imported the group scene" in n for n in notices))
        assert "|Imported the group scene “group_shop”: 5 messages." in notices
        assert "|Added the persona Alex." in notices and "|Added the persona Sam." in notices
        (info,) = w.store.list_chats()
        assert info.characters == ["mara", "vesper"] and info.personas == ["Alex", "Sam"]
        chats = home_screen.query_one("#chats", OptionList)
        assert chats.get_option_at_index(chats.highlighted).id == info.id
        assert "group_shop · mara, vesper" in str(chats.get_option_at_index(chats.highlighted).prompt)
        msgs, _ = w.store.messages(info.id)
        assert [m.speaker for m in msgs] == ["Mara", "Alex", "Vesper", "Sam", "Mara"]

        # a broken file: one clear notice, nothing imported
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one(Input).value = str(FIXTURES / "malformed_middle.jsonl")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.startswith("Import failed|") for n in notices))
        failed = next(n for n in notices if n.startswith("Import failed|"))
        assert "malformed_middle.jsonl:3: not valid JSON" in failed
        assert len(w.store.list_chats()) == 1


async def test_export_the_open_chat_from_the_command_palette(home, scripted, tmp_path):
    w, app, notices = start(scripted)
    chat_id = import_st_chat(w, FIXTURES / "group_shop.jsonl").info.id
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert not any(c.title.startswith("Export this chat") for c in app.get_system_commands(app.screen))
        app.push_screen(ChatScreen(chat_id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {
            "Export this chat: SillyTavern (.jsonl)", "Export this chat: Markdown (.md)",
            "Export this chat: plain text (.txt)", "Export this chat: Candlelit JSONL (.jsonl)",
        } <= set(commands)
        commands["Export this chat: Markdown (.md)"].callback()
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen) and app.screen.query(Input))
        ask = app.screen
        assert "Export “group_shop” as Markdown (.md)" in ask.question
        assert ask.query_one(Input).value == str(Path.home() / "group_shop.md")
        target = tmp_path / "shop notes.md"
        ask.query_one(Input).value = f"'{target}'"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.startswith("|Exported to") for n in notices))
        assert f"|Exported to {target}." in notices
        md = target.read_text(encoding="utf-8")
        assert md.startswith("# group_shop\n") and "### Vesper · 2024-08-03 21:16" in md
        assert (target.stat().st_mode & 0o777) == 0o600
        assert isinstance(app.screen, ChatScreen)
