"""What every snapshot test shares: the one mapping of the screen and modal
classes they reach (imported here only, so a module that moves changes one
import line), one small app factory over the scripted engine, the waits
that make a shot deterministic, and a few fixtures of data.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from conftest import wait_until

from tui.core import paths
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.memory.document import Fact, Memory, save_memory
from tui.core.profile import profiles
from tui.core.profile.personas import PersonaProfile, add_persona
from tui.core.profile.workspace import Workspace
from tui.core.scene.rules import SceneSettings
from tui.ui.app import make_app

SIZE = (100, 32)


def _screens() -> SimpleNamespace:
    """Every screen and modal class the snapshots name, imported here only:
    when a module moves, its import line changes in this one place."""
    from tui.ui.modals.confirm import ConfirmScreen, UnsavedChangesScreen
    from tui.ui.modals.dialogs import AskScreen, EditScreen
    from tui.ui.modals.lore_entry import LoreEntryDialog
    from tui.ui.screens.chat import ChatScreen
    from tui.ui.screens.checkin import CheckInScreen, PickScreen
    from tui.ui.screens.help import HelpScreen
    from tui.ui.screens.home import HomeScreen
    from tui.ui.screens.ideas import IdeasScreen
    from tui.ui.screens.memory import EditLineScreen, MemoryScreen
    from tui.ui.screens.panic import LockScreen, PanicScreen
    from tui.ui.screens.personas import GroupSceneScreen, PersonasScreen
    from tui.ui.screens.profiles import PassphraseScreen, ProfilesScreen
    from tui.ui.screens.rehearsal import RehearsalScreen
    from tui.ui.screens.stats import StatsScreen
    from tui.ui.screens.studio import StudioScreen
    from tui.ui.screens.tripwire import TripwireScreen

    return SimpleNamespace(
        ChatScreen=ChatScreen,
        CheckInScreen=CheckInScreen,
        PickScreen=PickScreen,
        AskScreen=AskScreen,
        ConfirmScreen=ConfirmScreen,
        EditScreen=EditScreen,
        HelpScreen=HelpScreen,
        HomeScreen=HomeScreen,
        IdeasScreen=IdeasScreen,
        EditLineScreen=EditLineScreen,
        MemoryScreen=MemoryScreen,
        UnsavedChangesScreen=UnsavedChangesScreen,
        LockScreen=LockScreen,
        PanicScreen=PanicScreen,
        GroupSceneScreen=GroupSceneScreen,
        PersonasScreen=PersonasScreen,
        PassphraseScreen=PassphraseScreen,
        ProfilesScreen=ProfilesScreen,
        RehearsalScreen=RehearsalScreen,
        StatsScreen=StatsScreen,
        StudioScreen=StudioScreen,
        TripwireScreen=TripwireScreen,
        LoreEntryDialog=LoreEntryDialog,
    )


S = _screens()


# --------------------------------------------------------------------------
# one small app factory, and the waits every snapshot shares


def workspace(profile: str = "default", **privacy) -> Workspace:
    return Workspace(paths.resolve(), replace(Config(), chat={"profile": profile}, privacy=privacy))


def candlelit(scripted, ws: Workspace | None = None, replies: list[str] | None = None, *, roomy: bool = False):
    """The real app over ``ws`` with the scripted engine (and tokenizer).
    ``roomy``: a 32k context, so several cards fit (one token per character)."""
    engine = scripted(replies)
    if roomy:
        engine._info = dataclasses.replace(engine._info, n_ctx=32768)
    return make_app(ws or workspace(), engine=engine, tokenizer=scripted())


async def steady(pilot, until=lambda: True) -> None:
    """Wait for ``until``, then for the workers; stop every cursor blinking
    (always drawn where focused) and let the screen repaint."""
    app = pilot.app
    await wait_until(pilot, until)
    await app.workers.wait_for_complete()
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False
    await pilot.pause(0.1)


async def on_screen(pilot, kind: type) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, kind))


async def type_into(pilot, selector: str, text: str) -> None:
    """Type ``text`` key by key into a field of the current screen, once it
    has the focus (as a user types: no selection left behind by chance)."""
    widget = pilot.app.screen.query_one(selector)
    await wait_until(pilot, lambda: widget.has_focus)
    await pilot.press(*text)


async def open_chat(pilot, chat_id: str):
    app = pilot.app
    app.push_screen(S.ChatScreen(chat_id))
    await wait_until(pilot, lambda: isinstance(app.screen, S.ChatScreen) and app.screen.ready)
    await app.workers.wait_for_complete()
    return app.screen


async def say(pilot, screen, text: str) -> None:
    """Type ``text`` in the chat's composer and press Enter."""
    composer = screen.query_one("#composer")
    composer.insert(text)
    await pilot.press("enter")


def couple(ws: Workspace) -> None:
    me = ws.config.chat.user_name
    add_persona(ws.store, PersonaProfile("Alex", "A carpenter.", hard_limits=("spiders",)), me)
    add_persona(ws.store, PersonaProfile("Sam", "A nurse.", hard_limits=("violence",), soft_limits=("heights",)), me)


def group_chat(ws: Workspace, slugs=("mara",), **settings) -> str:
    couple(ws)
    scene = SceneSettings(**settings) if settings else None
    slug = list(slugs) if len(slugs) > 1 else slugs[0]
    return ws.new_chat(slug, personas=["Alex", "Sam"], settings=scene).id


def chat_with_memory(ws: Workspace) -> str:
    chat = ws.new_chat("vesper", title="Rematch")
    save_memory(ws.store.chat_dir(chat.id), Memory(
        summary="Vesper and the user fenced at dawn; she won the first bout.",
        pinned_summary="They are old rivals from the academy.",
        facts=[Fact("Vesper fights left-handed.", "m-0001", pinned=True), Fact("The user owes her a rematch.", "")],
    ))
    return chat.id


def encrypted_workspace() -> Workspace:
    """An encrypted profile "sec" (passphrase "open sesame"), opened locked."""
    profiles.create_profile(paths.resolve(), "sec", passphrase="open sesame")
    return workspace("sec")
