"""Pilot tests of group scenes in the TUI (who is typing, replies under their
speakers, the safeword and the check-in, manual turns, OOC lines), and of
the Personas, group-scene, Ideas and Rehearsal screens. Scripted engine."""

from __future__ import annotations

import dataclasses
import os
import stat

from conftest import wait_until
from textual import events
from textual.widgets import Input, OptionList, SelectionList, Static, TextArea

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.profile.personas import PersonaProfile, add_persona, list_personas
from tui.core.profile.workspace import Workspace
from tui.core.scene.ideas import load_ideas
from tui.core.scene.rules import SceneSettings
from tui.ui.app import make_app
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.checkin import CheckInScreen, PickScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.ideas import IdeasScreen
from tui.ui.screens.personas import GroupSceneScreen, PersonasScreen
from tui.ui.screens.rehearsal import RehearsalScreen
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar

SIZE = (110, 36)


def ws() -> Workspace:
    return Workspace(paths.resolve(), Config())


def roomy(scripted, replies=None, **kw):
    """The scripted engine with room for several cards (it counts one token
    per character)."""
    eng = scripted(replies, **kw)
    eng._info = dataclasses.replace(eng._info, n_ctx=32768)
    return eng


def couple(w: Workspace) -> None:
    me = w.config.chat.user_name
    add_persona(w.store, PersonaProfile("Alex", "A carpenter.", hard_limits=("spiders",)), me)
    add_persona(w.store, PersonaProfile("Sam", "A nurse.", hard_limits=("violence",)), me)


def group_chat(w: Workspace, slugs=("mara",), **settings) -> str:
    couple(w)
    scene = SceneSettings(**settings) if settings else None
    slug = list(slugs) if len(slugs) > 1 else slugs[0]
    return w.new_chat(slug, personas=["Alex", "Sam"], settings=scene).id


async def open_chat(pilot, app, chat_id) -> ChatScreen:
    app.push_screen(ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
    return app.screen


def views(screen) -> list[MessageView]:
    return list(screen.query(MessageView))


def stored(w: Workspace, chat_id: str):
    return w.store.messages(chat_id)[0]


def typing(screen) -> str:
    return str(screen.query_one("#typing", Static).render())


async def say(pilot, screen, text: str) -> None:
    screen.query_one(Composer).insert(text)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.busy is None and not screen.query_one(Composer).text)


# --------------------------------------------------------------------------
# who is typing


async def test_tab_and_alt_number_switch_who_is_typing_and_the_line_keeps_it(home, scripted):
    w = ws()
    chat_id = group_chat(w)
    app = make_app(w, engine=roomy(scripted, ["Welcome, both of you."]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        composer = screen.query_one(Composer)
        assert composer.personas == ["Alex", "Sam"]
        assert composer.speaker == "Alex" and composer.border_title == "Alex is typing"
        assert typing(screen).startswith("Alex is typing")

        await pilot.press("tab")  # empty composer: the next persona
        assert composer.speaker == "Sam" and composer.border_title == "Sam is typing"
        await wait_until(pilot, lambda: typing(screen).startswith("Sam is typing"))
        assert screen.focused is composer
        await pilot.press("tab")
        assert composer.speaker == "Alex"
        await pilot.press("alt+2")
        assert composer.speaker == "Sam"
        await pilot.press("alt+9")  # no ninth persona: nothing changes
        assert composer.speaker == "Sam"
        # a terminal's ESC+1 reaches Textual as "¡" (macOS Option+1): a pick on an empty composer
        await pilot.press("inverted_exclamation_mark")
        assert composer.speaker == "Alex" and composer.text == ""
        await pilot.press("trade_mark_sign")
        assert composer.speaker == "Sam" and composer.text == ""

        await say(pilot, screen, "Hello Mara, it is Sam.")
        await wait_until(pilot, lambda: len(views(screen)) == 3 and views(screen)[-1].msg_id)
        line = stored(w, chat_id)[1]
        assert (line.speaker, line.role, line.text) == ("Sam", "user", "Hello Mara, it is Sam.")
        assert views(screen)[1].speaker == "Sam"
        assert views(screen)[2].speaker == "Mara" and views(screen)[2].text == "Welcome, both of you."

        await pilot.press("alt+1")
        composer.insert("half a thought")
        composer.post_message(events.Key("trade_mark_sign", "™"))  # as a terminal sends it
        await wait_until(pilot, lambda: composer.text.endswith("™"))  # inside text: just a character
        assert composer.speaker == "Alex"
        await pilot.press("tab")  # with text, Tab is not a persona switch
        assert composer.speaker == "Alex" and screen.focused is not composer
        assert "Group scene".lower() in str(screen.query_one(StatusBar).render()).lower()


async def test_one_persona_chat_is_unchanged(home, scripted):
    w = ws()
    chat = w.new_chat("mara")
    app = make_app(w, engine=roomy(scripted, ["Hi."]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat.id)
        composer = screen.query_one(Composer)
        assert composer.border_title is None or composer.border_title == ""
        assert typing(screen).startswith("User is typing · Enter send")
        await pilot.press("tab")
        assert composer.speaker == "User" and screen.focused is not composer
        assert "group" not in str(screen.query_one(StatusBar).render())
        assert screen.check_action("next_speaker", ()) is False


async def test_each_reply_streams_under_its_own_speaker(home, scripted):
    w = ws()
    chat_id = group_chat(w, ("mara", "vesper"), policy="auto", auto_turns=2)
    # auto: the rotation goes on after the last AI speaker (Mara's greeting)
    eng = roomy(scripted, ["Vesper raises an eyebrow.", "Mara pours the tea."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        await say(pilot, screen, "Good evening, everyone.")
        await wait_until(pilot, lambda: len(views(screen)) == 4)
        expected = [("Vesper", "Vesper raises an eyebrow."), ("Mara", "Mara pours the tea.")]
        assert [(v.speaker, v.text) for v in views(screen)[2:]] == expected
        assert [(m.speaker, m.text) for m in stored(w, chat_id)[2:]] == expected
        assert all(v.msg_id for v in views(screen))


# --------------------------------------------------------------------------
# the safeword and the check-in


def spy_resume(session, calls):
    real = session.resume_scene

    def resume(choice, note="", **kw):
        calls.append((choice, note))
        return real(choice, note, **kw)

    session.resume_scene = resume


async def test_safeword_when_idle_pauses_and_continue_resumes(home, scripted):
    w = ws()
    chat_id = group_chat(w)
    eng = roomy(scripted, ["Of course."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        n_requests = len(eng.requests)
        await pilot.press("tab")  # Sam is typing
        screen.query_one(Composer).insert("Red")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        checkin = app.screen
        assert "Sam used the safeword" in str(checkin.query_one("#checkin-text", Static).render())
        assert screen.session.paused and len(eng.requests) == n_requests  # nothing generated
        await wait_until(pilot, lambda: "paused" in str(screen.query_one(StatusBar).render()))
        calls: list = []
        spy_resume(screen.session, calls)
        await pilot.click("#continue")
        await wait_until(pilot, lambda: app.screen is screen)
        assert calls == [("continue", "")]
        assert not screen.session.paused
        signals = [m.extra.get("signal") for m in stored(w, chat_id) if m.role == "system"]
        assert signals == ["red", "continue"]
        await wait_until(pilot, lambda: "paused" not in str(screen.query_one(StatusBar).render()))
        await say(pilot, screen, "Thanks, we are fine.")
        await wait_until(pilot, lambda: views(screen)[-1].text == "Of course.")


async def test_change_direction_asks_for_a_note_and_end_leaves_the_scene(home, scripted):
    w = ws()
    chat_id = group_chat(w)
    app = make_app(w, engine=roomy(scripted, ["Sure."]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        await say(pilot, screen, "red")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        calls: list = []
        spy_resume(screen.session, calls)
        await pilot.press("d")  # Change direction: the note field opens first
        note = app.screen.query_one("#checkin-note", Input)
        assert note.display and app.screen.focused is note and calls == []
        note.value = "a calm walk by the river"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen)
        assert calls == [("change", "a calm walk by the river")]
        assert stored(w, chat_id)[-1].extra.get("note") == "a calm walk by the river"

        await say(pilot, screen, "red")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        spy_resume(screen.session, calls)
        await pilot.click("#end")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert calls[-1] == ("end", "")
        assert w.store.chat(chat_id).scene.get("ended") is True


async def test_safeword_while_a_reply_streams_stops_it_at_once(home, scripted):
    w = ws()
    chat_id = group_chat(w)
    eng = roomy(scripted, ["one two three four five six seven eight nine ten eleven twelve"], delay=0.05)
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        screen.query_one(Composer).insert("Tell us a long story")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.streaming is not None and "two" in screen.streaming.text)
        screen.query_one(Composer).insert("RED!")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        await wait_until(pilot, lambda: screen.busy is None)
        reply = [m for m in stored(w, chat_id) if m.role == "assistant"][-1]
        assert reply.status == "stopped" and "twelve" not in reply.text
        assert stored(w, chat_id)[-1].extra.get("signal") == "red"
        assert screen.session.paused
        # the screen shows what is stored, the stopped reply included
        await wait_until(pilot, lambda: [v.msg_id for v in views(screen)] == [m.id for m in stored(w, chat_id)])
        await pilot.press("escape")  # stay paused
        await wait_until(pilot, lambda: app.screen is screen)
        screen.query_one(Composer).insert("Shall we go on?")
        await pilot.press("enter")  # paused: nothing is sent, the text comes back, the check-in returns
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        assert screen.query_one(Composer).text == "Shall we go on?"
        assert not any(m.text == "Shall we go on?" for m in stored(w, chat_id))


# --------------------------------------------------------------------------
# manual turns and OOC lines


async def test_manual_policy_ctrl_n_picks_who_answers(home, scripted):
    w = ws()
    chat_id = group_chat(w, ("mara", "vesper"), policy="manual")
    eng = roomy(scripted, ["Vesper smiles."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        n = len(eng.requests)
        await say(pilot, screen, "Who wants to start?")
        assert len(eng.requests) == n  # manual: nobody answers by themselves
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, PickScreen))
        options = app.screen.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)] == ["Mara", "Vesper"]
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.screen is screen and screen.busy is None and views(screen)[-1].msg_id)
        assert views(screen)[-1].speaker == "Vesper" and views(screen)[-1].text == "Vesper smiles."
        assert stored(w, chat_id)[-1].speaker == "Vesper"


async def test_out_of_character_line_is_dimmed_labelled_and_gets_no_reply(home, scripted):
    w = ws()
    chat_id = group_chat(w)
    eng = roomy(scripted, ["Reply."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app, chat_id)
        n = len(eng.requests)
        await say(pilot, screen, "(( back in five, getting tea ))")
        view = views(screen)[-1]
        assert view.has_class("ooc") and view.speaker == "Alex · OOC"
        assert "OOC" in str(view.query_one(".speaker", Static).render())
        assert len(eng.requests) == n
        await open_chat(pilot, app, chat_id)  # reopened from disk: still shown as OOC
        assert app.screen is not screen and views(app.screen)[-1].has_class("ooc")


# --------------------------------------------------------------------------
# the other screens


async def test_personas_screen_adds_a_persona_with_limits(home, scripted):
    w = ws()
    app = make_app(w, engine=roomy(scripted))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PersonasScreen))
        screen = app.screen
        await pilot.press("ctrl+n")
        screen.query_one("#persona-name", Input).value = "Sam"
        screen.query_one("#persona-description", TextArea).text = "A nurse with a dry wit."
        screen.query_one("#persona-hard", TextArea).text = "spiders\n\nviolence\n"
        screen.query_one("#persona-soft", TextArea).text = "heights"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(list_personas(w.store)) == 2)
        sam = list_personas(w.store)[1]
        assert (sam.name, sam.description, sam.hard_limits, sam.soft_limits) == (
            "Sam", "A nurse with a dry wit.", ("spiders", "violence"), ("heights",))
        screen.query_one("#persona-name", Input).value = "Bad: name"
        await pilot.press("ctrl+s")
        await pilot.pause(0.05)
        assert [p.name for p in list_personas(w.store)] == ["User", "Sam"]  # refused, nothing changed


async def test_new_group_scene_from_home(home, scripted):
    w = ws()
    couple(w)
    app = make_app(w, engine=roomy(scripted, ["Hello."]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupSceneScreen))
        dialog = app.screen
        chars = dialog.query_one("#group-characters", SelectionList)
        assert list(chars.selected) == ["mara"]  # the highlighted character
        chars.select("vesper")
        people = dialog.query_one("#group-personas", SelectionList)
        people.deselect("User")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        info = w.store.chat(app.screen.chat_id)
        assert info.characters == ["mara", "vesper"] and info.personas == ["Alex", "Sam"]
        assert app.screen.query_one(Composer).speaker == "Alex"


async def test_ideas_generate_save_and_start_a_scene(home, scripted):
    w = ws()
    couple(w)
    eng = roomy(
        scripted,
        [" A rainy afternoon in a bookshop with a secret door.\n2. A ferry ride where the captain asks for help."],
    )
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, IdeasScreen))
        screen = app.screen
        screen.query_one("#ideas-personas", SelectionList).deselect("User")
        bounds = str(screen.query_one("#ideas-bounds", Static).render())
        assert "spiders (Alex)" in bounds and "violence (Sam)" in bounds
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(screen.ideas) == 2)
        prompt = "".join(chr(t) for t in eng.requests[-1].tokens[1:])
        assert "- spiders (Alex)" in prompt and "- violence (Sam)" in prompt and "Alex and Sam" in prompt
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(load_ideas(w.store.root)) == 1)
        assert load_ideas(w.store.root)[0].text == "A rainy afternoon in a bookshop with a secret door."
        assert stat.S_IMODE(os.stat(w.store.root / "ideas.toml").st_mode) == 0o600
        screen.query_one("#ideas-list", OptionList).focus()
        await pilot.press("down", "ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        chat = app.screen
        first = stored(w, chat.chat_id)[0]
        assert (first.role, first.text) == ("system", "Scene: A ferry ride where the captain asks for help.")
        assert w.store.chat(chat.chat_id).personas == ["Alex", "Sam"]
        assert views(chat)[0].text == first.text


async def test_rehearsal_exchange_then_feedback(home, scripted):
    w = ws()
    eng = roomy(scripted, ["I hear you. Thursdays could work.", "You said clearly what you wanted and why."])
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, RehearsalScreen))
        screen = app.screen
        assert screen.partner == "Mara"
        await pilot.press("ctrl+f")  # nothing said yet: no feedback
        await pilot.pause(0.05)
        assert not eng.requests
        screen.query_one("#rehearse-topic", Input).value = "one evening a week without phones"
        composer = screen.query_one("#rehearse-composer", Composer)
        composer.focus()
        composer.insert("Could we keep Thursdays phone-free?")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.busy is None and len(screen.lines) == 2)
        assert screen.lines[1].speaker == "Mara" and screen.lines[1].text == "I hear you. Thursdays could work."
        partner_prompt = "".join(chr(t) for t in eng.requests[0].tokens[1:])
        assert "one evening a week without phones" in partner_prompt and partner_prompt.endswith("Mara:")
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: screen.busy is None and len(eng.requests) == 2)
        await wait_until(pilot, lambda: views(screen)[-1].text == "You said clearly what you wanted and why.")
        assert views(screen)[-1].speaker == "Coach" and views(screen)[-1].has_class("feedback")
        assert "feedback on clarity" in "".join(chr(t) for t in eng.requests[1].tokens[1:])
        assert not list((w.store.root / "chats").glob("*")) if (w.store.root / "chats").exists() else True
