"""Snapshots of the couple's screens: group-scene check-in and turns, the
group-scene setup, Personas, Ideas, Rehearsal (see ``test_snapshots.py``
for how every snapshot is made deterministic)."""

from __future__ import annotations

from conftest import wait_until
from snapshot_app import (
    SIZE,
    S,
    candlelit,
    couple,
    group_chat,
    on_screen,
    open_chat,
    say,
    steady,
    type_into,
    workspace,
)

# --------------------------------------------------------------------------
# group scenes: check-in, who speaks next, setup, personas


def test_group_chat_check_in_after_the_safeword(home, scripted, snap_compare):
    ws = workspace()
    chat_id = group_chat(ws)
    app = candlelit(scripted, ws, roomy=True)

    async def run_before(pilot):
        screen = await open_chat(pilot, chat_id)
        await pilot.press("tab")  # Sam is typing
        await say(pilot, screen, "Red")
        await steady(pilot, lambda: isinstance(app.screen, S.CheckInScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_group_chat_check_in_asks_for_a_new_direction(home, scripted, snap_compare):
    ws = workspace()
    chat_id = group_chat(ws)
    app = candlelit(scripted, ws, roomy=True)

    async def run_before(pilot):
        screen = await open_chat(pilot, chat_id)
        await say(pilot, screen, "red")
        await on_screen(pilot, S.CheckInScreen)
        await pilot.press("d")  # Change direction: the note field opens
        await type_into(pilot, "#checkin-note", "a calm walk by the river")
        await steady(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_group_chat_who_speaks_next(home, scripted, snap_compare):
    ws = workspace()
    chat_id = group_chat(ws, ("mara", "vesper"), policy="manual")
    app = candlelit(scripted, ws, roomy=True)

    async def run_before(pilot):
        await open_chat(pilot, chat_id)
        await pilot.press("ctrl+n")
        await steady(pilot, lambda: isinstance(app.screen, S.PickScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_group_scene_setup_from_home(home, scripted, snap_compare):
    ws = workspace()
    couple(ws)
    app = candlelit(scripted, ws, roomy=True)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("g")
        await on_screen(pilot, S.GroupSceneScreen)
        app.screen.query_one("#group-characters").select("vesper")
        await steady(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_personas_editing_sam_with_limits(home, scripted, snap_compare):
    ws = workspace()
    couple(ws)
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("p")
        await on_screen(pilot, S.PersonasScreen)
        await pilot.press("down", "down")  # User, Alex, Sam: the form follows the highlight
        await steady(pilot, lambda: app.screen.editing == "Sam")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_ideas_after_generating_two(home, scripted, snap_compare):
    ws = workspace()
    couple(ws)
    ideas = " A rainy afternoon in a bookshop with a secret door.\n2. A ferry ride where the captain asks for help."
    app = candlelit(scripted, ws, [ideas], roomy=True)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("e")
        await on_screen(pilot, S.IdeasScreen)
        screen = app.screen
        await pilot.press("ctrl+g")
        await steady(pilot, lambda: len(screen.ideas) == 2 and not screen.busy)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_rehearsal_with_a_topic_and_a_first_line(home, scripted, snap_compare):
    app = candlelit(scripted, roomy=True)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("t")
        await on_screen(pilot, S.RehearsalScreen)
        screen = app.screen
        await type_into(pilot, "#rehearse-topic", "one evening a week without phones")
        await pilot.press("enter")  # the topic is written: on to the composer
        await wait_until(pilot, lambda: screen.query_one("#rehearse-composer").has_focus)
        screen.query_one("#rehearse-composer").insert("Could we keep Thursdays phone-free?")
        await steady(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
