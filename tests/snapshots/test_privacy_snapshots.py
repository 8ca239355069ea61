"""Snapshots of the privacy screens: panic (fake log, password line), lock,
Profiles and a new encrypted profile's passphrase, Stats (see
``test_snapshots.py`` for how every snapshot is made deterministic)."""

from __future__ import annotations

from conftest import wait_until
from snapshot_app import (
    SIZE,
    S,
    candlelit,
    encrypted_workspace,
    on_screen,
    steady,
    type_into,
    workspace,
)

from tui.core import paths
from tui.core.profile import profiles

# --------------------------------------------------------------------------
# privacy: panic, lock, profiles, stats


def test_panic_screen_fake_build_log(home, scripted, snap_compare):
    app = candlelit(scripted, workspace(panic_screen="log"))

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("f12")
        await steady(pilot, lambda: isinstance(app.screen, S.PanicScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_lock_screen_of_an_encrypted_profile(home, scripted, fast_kdf, snap_compare):
    app = candlelit(scripted, encrypted_workspace())

    async def run_before(pilot):
        await steady(pilot, lambda: isinstance(app.screen, S.LockScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_lock_screen_after_a_wrong_passphrase(home, scripted, fast_kdf, snap_compare):
    app = candlelit(scripted, encrypted_workspace())

    async def run_before(pilot):
        await on_screen(pilot, S.LockScreen)
        await type_into(pilot, "#lock-input", "open says me")
        await pilot.press("enter")
        await steady(pilot, lambda: "Wrong" in str(app.screen.query_one("#lock-error").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_panic_on_an_encrypted_profile_asks_for_the_password(home, scripted, fast_kdf, snap_compare):
    app = candlelit(scripted, encrypted_workspace())

    async def run_before(pilot):
        await on_screen(pilot, S.LockScreen)
        await type_into(pilot, "#lock-input", "open sesame")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, S.HomeScreen) and app.vault is not None)
        await pilot.press("f12")
        await on_screen(pilot, S.PanicScreen)
        await pilot.press("x")  # a key only shows the bare password line
        await steady(pilot, lambda: app.screen.query_one("#panic-ask").has_class("-shown"))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_profiles_with_a_second_shared_profile(home, scripted, snap_compare):
    base = paths.resolve()
    profiles.create_profile(base, "ours")
    profiles.set_shared(base, "ours", True)
    ws = workspace()
    ws.new_chat("mara")
    app = candlelit(scripted, ws)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("f2")
        await steady(pilot, lambda: isinstance(app.screen, S.ProfilesScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_profiles_new_encrypted_passphrases_differ(home, scripted, snap_compare):
    app = candlelit(scripted)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("f2")
        await on_screen(pilot, S.ProfilesScreen)
        await pilot.press("e")
        await on_screen(pilot, S.AskScreen)
        await type_into(pilot, "#answer", "ours")
        await pilot.press("enter")
        await on_screen(pilot, S.PassphraseScreen)
        dialog = app.screen
        await type_into(pilot, "#pass-1", "lantern")
        await pilot.press("enter")  # on to the second field
        await type_into(pilot, "#pass-2", "lanterns")
        await pilot.press("enter")
        await steady(pilot, lambda: "differ" in str(dialog.query_one("#pass-error").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_stats_with_both_reminders_on(home, scripted, snap_compare):
    app = candlelit(scripted)

    async def run_before(pilot):
        await on_screen(pilot, S.HomeScreen)
        await pilot.press("f3")
        await on_screen(pilot, S.StatsScreen)
        await pilot.press("m", "n")  # session reminder after 45 min; late-night reminder on
        await steady(pilot, lambda: "45 min" in str(app.screen.query_one("#stats-reminders").render()))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
