"""Card, chat, persona, profile and model text is shown literally everywhere.

Community cards are full of square brackets: W++/PList descriptions
(``[Name's Personality= "a", "b"]``), ``[{{char}} is ...]`` notes, names like
``[/INST] Lyra``. Textual parses a plain ``str`` as content markup in many
widgets (option lists, selection lists, border titles, tooltips,
notifications), where such text either raises ``MarkupError`` (the app
exits, at every start) or silently loses its brackets, or turns into
``[@click=...]`` actions. These tests put such text on every screen that
lists or shows it and check that the app stays up and that what is on the
screen is the text as written, brackets and all.
"""

from __future__ import annotations

import dataclasses

from conftest import wait_until
from textual.visual import visualize
from textual.widgets import Input, OptionList, SelectionList, Static
from textual.widgets._toast import Toast

from tui.core import paths
from tui.core.cards.card import Card, save_card_file
from tui.core.config.schema import Config
from tui.core.memory.document import Fact, Memory, save_memory
from tui.core.profile import profiles as P
from tui.core.profile.personas import PersonaProfile, add_persona, update_persona
from tui.core.profile.workspace import Workspace
from tui.core.scene.ideas import save_idea
from tui.core.storage.model import Message
from tui.ui.app import make_app
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.chat import ChatScreen
from tui.ui.screens.checkin import CheckInScreen, PickScreen
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.ideas import IdeasReady, IdeasScreen
from tui.ui.screens.memory import MemoryScreen
from tui.ui.screens.personas import GroupSceneScreen, PersonasScreen
from tui.ui.screens.profiles import ProfilesScreen
from tui.ui.screens.studio import StudioScreen
from tui.ui.text import literal
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView
from tui.ui.widgets.status_bar import StatusBar

SIZE = (140, 44)

# A PList / W++ style description of our own (the style of SillyTavern's
# default character and of many community cards). The first line is longer
# than the home list's 80-character excerpt, so the excerpt ends inside an
# open bracket: the case that crashed the home screen.
PLIST = (
    '[Corvina\'s Personality= "watchful", "dry-humoured", "loyal", "patient with storms"; '
    'Corvina\'s Body= "tall", "ink-stained fingers", "salt-grey coat"]\n'
    "[{{char}} keeps the lighthouse on the northern rocks and speaks in short sentences]\n"
    "[Genre: quiet coastal drama; Tags: slow burn, found family]"
)
CORVINA_EXCERPT = '[Corvina\'s Personality= "watchful", "dry-humoured", "loyal", "patient with…'

LYRA = "[/INST] Lyra [b]"
CLICK = "[@click=app.quit]x[/]"
SLASH = "[/]"
LINK = "[link=https://example.invalid]Wren[/link]"

ME = "[/] Kit [b]"          # the profile's first persona
PARTNER = "[@click=app.quit]Jo[/]"
TITLE = "[b]Storm[/b] night [/INST] [/]"
MODEL = "[/] evil.gguf [@click=app.quit]q[/]"


def ws() -> Workspace:
    return Workspace(paths.resolve(), Config())


def add_card(w: Workspace, slug: str, name: str, description: str = "", first_mes: str = "", **kw) -> None:
    save_card_file(w.store.character_dir(slug) / "card.json",
                   Card(name=name, description=description, first_mes=first_mes, **kw))


def hostile_profile(w: Workspace) -> None:
    """Cards, personas, chats, a branch, ideas and memory with hostile text."""
    add_card(w, "corvina", "Corvina", PLIST, "[{{char}} looks up from the lamp.] *Storm's coming,* {{user}}.")
    add_card(w, "lyra", LYRA, "[{{char}} is a harpist]. [b]Bold[/b] claims [/]", "[/INST] Hello.",
             character_book={"name": "[/] book", "entries": [
                 {"keys": ["[/]", "[b]harp"], "content": "[Harp= \"old\", \"gold\"]", "enabled": True,
                  "insertion_order": 100}]})
    add_card(w, "click", CLICK, "[@click=app.quit]Quit[/] now.")
    add_card(w, "slash", SLASH, "[/]")
    add_card(w, "link", LINK, "[link=https://example.invalid]a link[/link].")
    me = w.config.chat.user_name
    update_persona(w.store, PersonaProfile(ME, "[b]Me[/b]", hard_limits=("[/] spiders",)), me, me)
    add_persona(w.store, PersonaProfile(PARTNER, "[i]Them[/i]"), me)
    save_idea(w.store.root, "[Scene= \"lighthouse\", \"storm\"] [/] a night watch", ["Cozy"])


def option_texts(ol: OptionList) -> list[str]:
    """The options as the list draws them (its own markup setting applies)."""
    markup = getattr(ol, "_markup", True)
    return [visualize(ol, ol.get_option_at_index(i).prompt, markup=markup).plain for i in range(ol.option_count)]


def screen_text(app) -> str:
    """What the terminal shows now (the top screen, as composed)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def static_text(widget: Static) -> str:
    return str(widget.render())


def alive(app) -> None:
    assert app.is_running and app._exception is None


async def home_filled(pilot, app) -> HomeScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    await wait_until(pilot, lambda: app.screen.query_one("#characters", OptionList).option_count > 0)
    return app.screen


async def test_home_shows_plist_cards_and_bracket_names_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    first = w.new_chat("corvina", title=TITLE)
    w.new_chat("lyra")
    w.new_chat("click", title=CLICK)
    msgs, _ = w.store.messages(first.id)
    w.store.branch_chat(first.id, msgs[0].id, title=SLASH)
    app = make_app(w, engine=scripted())
    async with app.run_test(size=SIZE) as pilot:
        screen = await home_filled(pilot, app)
        await pilot.pause(0.1)
        alive(app)
        chars = option_texts(screen.query_one("#characters", OptionList))
        assert f"Corvina — {CORVINA_EXCERPT}  (2 chats)" in chars  # the chat and its branch
        assert f"{LYRA} — [{LYRA} is a harpist].  (1 chat)" in chars  # {{char}} is the name
        assert f"{CLICK} — [@click=app.quit]Quit[/] now.  (1 chat)" in chars
        assert f"{SLASH} — [/]  (0 chats)" in chars
        assert f"{LINK} — [link=https://example.invalid]a link[/link].  (0 chats)" in chars
        chats = option_texts(screen.query_one("#chats", OptionList))
        assert any(c.startswith(f"{TITLE} · corvina · ") for c in chats)
        assert any(c.startswith(f"{CLICK} · click · ") for c in chats)
        assert any(c.startswith(f"{LYRA} · lyra · ") for c in chats)  # the default title is the name
        assert any(c.startswith(f"{SLASH} · corvina · ") and c.endswith(f"↳ branch of “{TITLE}”") for c in chats)
        assert static_text(screen.query_one("#profile", Static)) == f"Profile: default · you are {ME}"
        shown = screen_text(app)
        for needle in ("Corvina — [Corvina's Personality=", LYRA, CLICK, f"{SLASH} — [/]", TITLE, f"you are {ME}"):
            assert needle in shown, needle

        # a hostile model name on the home screen
        app.set_model_state(MODEL)
        await pilot.pause()
        assert MODEL in static_text(screen.query_one("#model-state", Static))

        # rename and delete dialogs quote the title as written
        chats_list = screen.query_one("#chats", OptionList)
        chats_list.focus()

        def pick_titled() -> None:
            chats_list.highlighted = next(i for i, c in enumerate(option_texts(chats_list)) if c.startswith(TITLE))

        pick_titled()
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        assert app.screen.query_one(Input).value == TITLE
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        pick_titled()  # the lists were refilled on the way back
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert f"Delete the chat “{TITLE}”" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        alive(app)


async def test_notifications_never_read_markup(home, scripted):
    app = make_app(ws(), engine=scripted())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await home_filled(pilot, app)
        app.screen.notify(f"Imported “{LYRA}” {SLASH}", title=CLICK)  # markup left at Textual's default
        await wait_until(pilot, lambda: len(app.screen.query(Toast)) > 0)
        await pilot.pause()
        toast = str(app.screen.query(Toast).last().render())
        assert f"Imported “{LYRA}” {SLASH}" in toast and CLICK in toast
        alive(app)


async def test_studio_shows_a_bracket_card_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    app = make_app(w, engine=scripted(), tokenizer=scripted())
    async with app.run_test(size=SIZE) as pilot:
        screen = await home_filled(pilot, app)
        chars = screen.query_one("#characters", OptionList)
        chars.highlighted = chars.get_option_index("lyra")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.ready)
        studio = app.screen
        await pilot.pause(0.1)
        assert studio.title == LYRA
        assert studio.query_one("#f-name", Input).value == LYRA
        assert studio.query_one("#f-description").text.startswith("[{{char}} is a harpist]")
        lore = option_texts(studio.query_one("#lore", OptionList))
        assert lore[0].startswith('[/], [b]harp — [Harp= "old", "gold"]')
        assert LYRA in screen_text(app)  # the header
        studio.query_one("#lore", OptionList).scroll_visible(animate=False)
        await pilot.pause(0.1)
        shown = screen_text(app)
        assert '[/], [b]harp — [Harp= "old", "gold"]' in shown
        alive(app)


async def test_personas_and_group_scene_dialog_show_names_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    app = make_app(w, engine=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await home_filled(pilot, app)
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PersonasScreen))
        await pilot.pause()
        alive(app)
        assert option_texts(app.screen.query_one("#persona-list", OptionList)) == [ME, PARTNER]
        assert app.screen.query_one("#persona-name", Input).value == ME
        shown = screen_text(app)
        assert ME in shown and PARTNER in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))

        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupSceneScreen))
        await pilot.pause()
        alive(app)
        dialog = app.screen
        chars = option_texts(dialog.query_one("#group-characters", SelectionList))
        assert {"Corvina", LYRA, CLICK, SLASH, LINK} <= set(chars)
        assert option_texts(dialog.query_one("#group-personas", SelectionList)) == [ME, PARTNER]
        shown = screen_text(app)
        assert LYRA in shown and CLICK in shown and PARTNER in shown
        await pilot.press("escape")
        alive(app)


async def test_group_chat_header_composer_status_and_pickers_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    chat = w.new_chat(["lyra", "click"], title=TITLE, personas=[ME, PARTNER])
    eng = scripted(["[/] fine [b]"])
    eng._info = dataclasses.replace(eng._info, n_ctx=32768)
    app = make_app(w, engine=eng)
    async with app.run_test(size=SIZE) as pilot:
        await home_filled(pilot, app)
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        screen = app.screen
        app.set_model_state(MODEL)
        await pilot.pause(0.1)
        alive(app)
        assert screen.title == TITLE
        composer = screen.query_one(Composer)
        assert composer._border_title is not None and composer._border_title.plain == f"{ME} is typing"
        assert MODEL in str(screen.query_one(StatusBar).render())
        views = list(screen.query(MessageView))
        assert views[0].speaker == LYRA
        assert str(views[0].query_one(".speaker", Static).render()) == LYRA
        shown = screen_text(app)
        assert TITLE in shown and f"{ME} is typing" in shown and LYRA in shown and MODEL in shown
        await pilot.press("tab")  # the next persona types
        await pilot.pause()
        assert composer._border_title.plain == f"{PARTNER} is typing"

        app.push_screen(PickScreen("Who speaks next?", [LYRA, CLICK, SLASH]))
        await wait_until(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause()
        assert option_texts(app.screen.query_one("#pick-list", OptionList)) == [LYRA, CLICK, SLASH]
        assert LYRA in screen_text(app) and CLICK in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        app.push_screen(CheckInScreen(by=PARTNER))
        await wait_until(pilot, lambda: isinstance(app.screen, CheckInScreen))
        await pilot.pause()
        assert f"{PARTNER} used the safeword." in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        alive(app)


async def test_ideas_screen_shows_personas_and_ideas_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    app = make_app(w, engine=scripted())
    async with app.run_test(size=SIZE) as pilot:
        screen = await home_filled(pilot, app)
        chars = screen.query_one("#characters", OptionList)
        chars.highlighted = chars.get_option_index("lyra")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, IdeasScreen))
        await pilot.pause()
        alive(app)
        ideas = app.screen
        assert option_texts(ideas.query_one("#ideas-personas", SelectionList)) == [ME, PARTNER]
        saved = '[Scene= "lighthouse", "storm"] [/] a night watch'
        assert option_texts(ideas.query_one("#ideas-saved", OptionList)) == [saved]
        assert f"start a scene with {LYRA}" in static_text(ideas.query_one("#ideas-hint", Static))
        assert "[/] spiders" in static_text(ideas.query_one("#ideas-bounds", Static))
        ideas.post_message(IdeasReady([f"{CLICK} by the harbour", "[/INST] a storm [b]"]))
        await wait_until(pilot, lambda: ideas.query_one("#ideas-list", OptionList).option_count == 2)
        await pilot.pause()
        assert option_texts(ideas.query_one("#ideas-list", OptionList)) == [
            f"{CLICK} by the harbour",
            "[/INST] a storm [b]",
        ]
        shown = screen_text(app)
        for needle in (ME, PARTNER, saved, f"{CLICK} by the harbour", "[/INST] a storm [b]"):
            assert needle in shown, needle
        alive(app)


async def test_profiles_list_keeps_its_bracket_tags(home, scripted):
    w = ws()
    w.persona()  # the profile exists on disk
    P.set_shared(w.paths, w.profile_name, True)
    app = make_app(w, engine=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await home_filled(pilot, app)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen))
        await pilot.pause()
        labels = option_texts(app.screen.query_one("#profiles", OptionList))
        assert labels[0].startswith("default  · ") and labels[0].endswith("  [shared]  (open)")
        assert "[shared]  (open)" in screen_text(app)
        alive(app)


async def test_memory_screen_shows_title_facts_and_sources_literally(home, scripted):
    w = ws()
    hostile_profile(w)
    chat = w.new_chat("lyra", title=TITLE)
    said = Message.new(LYRA, "assistant", "[/] I tune the [b]harp")
    w.store.append(chat.id, said)
    save_memory(chat.path, Memory(summary="[Summary= \"storm\"] [/]", pinned_summary="[b]pinned",
                                  facts=[Fact(f"{ME} fears [/] heights", said.id, pinned=True)]))
    app = make_app(w, engine=scripted())
    async with app.run_test(size=SIZE) as pilot:
        await home_filled(pilot, app)
        app.push_screen(ChatScreen(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen) and app.screen.ready)
        await pilot.pause()
        memory = app.screen
        alive(app)
        assert memory.title == f"Memory · {TITLE}"
        facts = option_texts(memory.query_one("#memory-facts", OptionList))
        assert facts == [f"📌 {ME} fears [/] heights  from {said.id}"]
        tip = memory.query_one("#memory-facts", OptionList).tooltip
        assert visualize(memory, tip).plain == f"From message {said.id}\n{LYRA}: [/] I tune the [b]harp"
        shown = screen_text(app)
        assert f"Memory · {TITLE}" in shown and f"{ME} fears [/] heights" in shown
        alive(app)


def test_literal_is_plain_text_with_control_characters_visible():
    shown = literal("[b]x[/] [/] \x1b[31m")
    assert shown.plain == "[b]x[/] [/] \u241b[31m" and not shown.spans
