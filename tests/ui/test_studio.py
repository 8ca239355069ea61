"""Pilot tests of the character Studio (and its home keys: s, c, i), with a
scripted engine for generation and a scripted tokenizer (one token per
character), plus one test against the real vocab-only tokenizer."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from conftest import wait_until
from textual.widgets import Input, OptionList, Static, TextArea

from tui.core import paths
from tui.core.cards.library import import_card_file
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.modals.lore_entry import LoreEntryDialog
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.studio import StudioScreen, pasted_path
from tui.ui.widgets.greeting_row import GreetingRow

SIZE = (110, 40)


def ws() -> Workspace:
    return Workspace(paths.resolve(), Config())


def start(scripted, w: Workspace | None = None, **kwargs):
    w = w or ws()
    kwargs.setdefault("tokenizer", scripted())
    app = make_app(w, engine=scripted(), **kwargs)
    notices: list[str] = []
    real_notify = app.notify

    def notify(message, *args, **kw):
        notices.append(f"{kw.get('title') or ''}|{message}")
        return real_notify(message, *args, **kw)

    app.notify = notify  # type: ignore[method-assign]
    return w, app, notices


async def open_studio(pilot, app, key: str = "s") -> StudioScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.ready)
    return app.screen


def label(screen: StudioScreen, field: str) -> str:
    return str(screen.query_one(f"#label-{field}", Static).render())


def card_json(w: Workspace, slug: str) -> dict:
    return json.loads((w.store.character_dir(slug) / "card.json").read_text(encoding="utf-8"))


async def test_studio_opens_mara_with_every_field_and_counts(home, scripted):
    w, app, _ = start(scripted)

    def not_here(*_a, **_k):
        raise AssertionError("counted through the generating engine")

    app.engine.tokenize = not_here  # counting has a tokenizer of its own
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)  # mara is the first character
        card = w.card("mara").card
        assert screen.slug == "mara"
        assert screen.query_one("#f-name", Input).value == "Mara Ellison"
        assert screen.query_one("#f-nickname", Input).value == "Mara"
        assert screen.query_one("#f-tags", Input).value == "companion, slice of life, cosy, bookshop"
        assert screen.query_one("#f-character_version", Input).value == "1.0"
        assert screen.query_one("#f-description", TextArea).text == card.description
        assert screen.query_one("#f-first_mes", TextArea).text == card.first_mes
        rows = list(screen.query(GreetingRow))
        assert [r.text for r in rows] == card.alternate_greetings
        # the scripted tokenizer counts one token per character
        await wait_until(pilot, lambda: "counting" not in label(screen, "description"))
        assert label(screen, "description") == f"Description  ({len(card.description)} tokens)"
        assert label(screen, "system_prompt") == "System prompt  (0 tokens)"
        total = sum(len(t) for t in screen._texts().values())
        assert str(screen.query_one("#total", Static).render()).startswith(f"Total: {total} tokens")
        avatar = str(screen.query_one("#avatar", Static).render())
        assert avatar.startswith("ME") and "(no avatar)" in avatar
        assert not screen.is_dirty()


async def test_editing_a_field_updates_its_count_and_the_total(home, scripted):
    _, app, _ = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        await wait_until(pilot, lambda: "counting" not in label(screen, "description"))
        before = str(screen.query_one("#total", Static).render())
        screen.query_one("#f-description", TextArea).text = "Mara runs a bookshop."
        await wait_until(pilot, lambda: label(screen, "description") == "Description  (21 tokens)")
        assert str(screen.query_one("#total", Static).render()) != before
        assert screen.is_dirty()


async def test_save_writes_the_card_and_keeps_unknown_fields(home, scripted):
    w = ws()
    w.cards()  # install the starters, then give mara fields we do not model
    path = w.store.character_dir("mara") / "card.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj["data"]["extensions"] = {"depot": {"voice": "alto"}, "talkativeness": "0.5"}
    obj["data"]["x_custom"] = [1, 2, {"three": 3}]
    obj["x_outer"] = "kept"
    path.write_text(json.dumps(obj), encoding="utf-8")
    _, app, notices = start(scripted, w)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        screen.query_one("#f-personality", TextArea).text = "Warm and wry."
        screen.query_one("#f-tags", Input).value = "cosy,  books , "
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any(n.endswith("|Saved") for n in notices))
        saved = card_json(w, "mara")
        assert saved["data"]["personality"] == "Warm and wry."
        assert saved["data"]["tags"] == ["cosy", "books"]
        assert saved["data"]["extensions"] == {"depot": {"voice": "alto"}, "talkativeness": "0.5"}
        assert saved["data"]["x_custom"] == [1, 2, {"three": 3}]
        assert saved["x_outer"] == "kept"
        assert saved["data"]["description"] == obj["data"]["description"]
        assert isinstance(saved["data"]["modification_date"], int)
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert not screen.is_dirty()
        await pilot.press("escape")  # nothing unsaved: straight back
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_escape_with_unsaved_changes_asks_first(home, scripted):
    w, app, _ = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        screen.query_one("#f-scenario", TextArea).text = "A storm outside."
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert w.card("mara").card.scenario.startswith("A quiet weekday evening")


async def test_create_a_new_character_appears_on_home(home, scripted):
    w, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app, key="c")
        assert screen.slug is None and screen.title == "New character"
        await pilot.press("ctrl+s")  # no name yet
        await wait_until(pilot, lambda: any("needs a name" in n for n in notices))
        screen.query_one("#f-name", Input).value = "Iris  Vale"
        screen.query_one("#f-description", TextArea).text = "Iris is a 41-year-old lighthouse keeper."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.slug == "iris-vale")
        assert card_json(w, "iris-vale")["data"]["name"] == "Iris Vale"
        assert oct(os.stat(w.store.character_dir("iris-vale")).st_mode & 0o777) == "0o700"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        chars = app.screen.query_one("#characters", OptionList)
        labels = [str(chars.get_option_at_index(i).prompt) for i in range(chars.option_count)]
        assert any(label.startswith("Iris Vale — Iris is a 41-year-old lighthouse keeper.") for label in labels)


async def test_a_second_character_with_the_same_name_gets_its_own_slug(home, scripted):
    w, app, _ = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app, key="c")
        screen.query_one("#f-name", Input).value = "Mara"
        screen.query_one("#f-description", TextArea).text = "Another Mara, a 50-year-old potter."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.slug is not None)
        assert screen.slug == "mara-2"
        assert w.card("mara").card.name == "Mara Ellison"  # the starter is untouched


async def test_guard_refuses_a_minor_and_does_not_save(home, scripted):
    w, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        before = (w.store.character_dir("mara") / "card.json").read_bytes()
        screen.query_one("#f-description", TextArea).text = "Mara is a 15-year-old apprentice."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: any(n.startswith("Not saved|") for n in notices))
        notice = next(n for n in notices if n.startswith("Not saved|"))
        assert 'description: "15-year-old"' in notice and "under 18" in notice
        assert (w.store.character_dir("mara") / "card.json").read_bytes() == before
        assert screen.is_dirty()


async def test_import_a_dropped_file_url_from_home(home, scripted, tmp_path):
    src = tmp_path / "drop zone" / "Juniper Card.json"
    src.parent.mkdir()
    src.write_text(json.dumps({
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {"name": "Juniper Hale", "description": "Juniper is a 38-year-old botanist.",
                 "first_mes": "Mind the ferns.", "tags": ["botany"]},
    }), encoding="utf-8")
    w, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        home_screen = app.screen
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        dropped = "'" + src.as_uri() + "'  "  # what a terminal pastes on drag and drop
        assert "%20" in dropped
        app.screen.query_one(Input).value = dropped
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is home_screen and any("Juniper" in n for n in notices))
        chars = home_screen.query_one("#characters", OptionList)
        labels = [str(chars.get_option_at_index(i).prompt) for i in range(chars.option_count)]
        assert any(label.startswith("Juniper Hale — Juniper is a 38-year-old botanist.") for label in labels)
        assert chars.get_option_at_index(chars.highlighted).id == "juniper-hale"
        assert w.card("juniper-hale").card.first_mes == "Mind the ferns."


async def test_import_of_a_missing_file_shows_an_error(home, scripted, tmp_path):
    _, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one(Input).value = f'"{tmp_path / "nope.png"}"'
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.startswith("Import failed|") for n in notices))
        assert any("nope.png" in n and "not found" in n for n in notices)


def test_pasted_path_undoes_what_terminals_add(tmp_path):
    spaced = tmp_path / "My Card.png"
    assert pasted_path(f"  '{spaced}'  ") == spaced
    assert pasted_path(f'"{spaced}"\n') == spaced
    assert pasted_path(spaced.as_uri()) == spaced
    assert pasted_path(f"'file://{tmp_path}/My%20Card.png' ") == spaced
    assert pasted_path(str(spaced).replace(" ", "\\ ")) == spaced
    assert pasted_path("~/cards/x.json") == Path.home() / "cards" / "x.json"


async def test_export_png_then_reimport(home, scripted, tmp_path):
    w, app, notices = start(scripted)
    out = tmp_path / "exports" / "mara card.png"
    out.parent.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        assert app.screen.query_one(Input).value == "png"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen) and "PNG" in app.screen.question)
        app.screen.query_one(Input).value = f"'{out}'"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.startswith("|Exported to") for n in notices))
        assert app.screen is screen
        # again, as JSON over the same file: asks before replacing it
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        app.screen.query_one(Input).value = " JSON "
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen) and "JSON" in app.screen.question)
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        assert out.read_bytes().startswith(b"\x89PNG")  # kept
    assert out.read_bytes().startswith(b"\x89PNG")
    assert os.stat(out).st_mode & 0o777 == 0o600
    again = import_card_file(w.store, out)
    assert again.card.name == "Mara Ellison"
    assert again.card.description == w.card("mara").card.description


async def test_export_needs_saved_changes(home, scripted):
    _, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        screen.query_one("#f-scenario", TextArea).text = "Later."
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: any("Save your changes first" in n for n in notices))
        assert app.screen is screen


async def test_greetings_add_and_remove(home, scripted):
    w, app, _ = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        screen.query_one("#add-greeting").press()
        await wait_until(pilot, lambda: len(screen.query(GreetingRow)) == 2)
        new_row = list(screen.query(GreetingRow))[1]
        new_row.query_one(TextArea).text = "Back so soon?"
        await wait_until(pilot, lambda: "(13 tokens)" in str(new_row.query_one(".field-label", Static).render()))
        list(screen.query(GreetingRow))[0].query_one(".remove-greeting").press()
        await wait_until(pilot, lambda: len(screen.query(GreetingRow)) == 1)
        assert str(new_row.query_one(".field-label", Static).render()).startswith("Greeting 1")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        assert card_json(w, "mara")["data"]["alternate_greetings"] == ["Back so soon?"]


async def test_add_and_edit_a_lorebook_entry(home, scripted):
    w, app, _ = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        assert "character_book" not in card_json(w, "mara")["data"]
        screen.query_one("#add-lore").press()
        await wait_until(pilot, lambda: isinstance(app.screen, LoreEntryDialog))
        dialog = app.screen
        dialog.query_one("#keys", Input).value = "Pilot, cat"
        dialog.query_one("#content", TextArea).text = "Pilot is the shop's grey cat."
        dialog.query_one("#constant").value = True
        dialog.query_one("#order", Input).value = "20"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen)
        lore = screen.query_one("#lore", OptionList)
        await wait_until(pilot, lambda: "(29 tokens)" in str(lore.get_option_at_index(0).prompt))
        assert "Pilot, cat" in str(lore.get_option_at_index(0).prompt)
        assert screen.is_dirty()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        book = card_json(w, "mara")["data"]["character_book"]
        [entry] = book["entries"]
        assert entry["keys"] == ["Pilot", "cat"] and entry["content"] == "Pilot is the shop's grey cat."
        assert entry["constant"] is True and entry["enabled"] is True and entry["insertion_order"] == 20
        # edit it: switch it off and move it after the character
        lore.focus()
        lore.highlighted = 0
        screen.query_one("#edit-lore").press()
        await wait_until(pilot, lambda: isinstance(app.screen, LoreEntryDialog))
        app.screen.query_one("#enabled").value = False
        app.screen.query_one("#position").value = "after_char"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen and screen.is_dirty())
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        [entry] = card_json(w, "mara")["data"]["character_book"]["entries"]
        assert entry["enabled"] is False and entry["position"] == "after_char"
        assert entry["keys"] == ["Pilot", "cat"] and entry["insertion_order"] == 20


async def test_lorebook_edit_keeps_fields_the_form_does_not_show(home, scripted):
    w = ws()
    w.cards()
    path = w.store.character_dir("mara") / "card.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj["data"]["character_book"] = {"name": "Shop", "scan_depth": 6, "entries": [
        {"keys": ["kettle"], "content": "The kettle whistles.", "enabled": True, "insertion_order": "10",
         "extensions": {"probability": 50}, "comment": "kettle", "x_entry": True},
        {"keys": ["rain"], "content": "It always rains here.", "enabled": True, "insertion_order": 5},
    ]}
    path.write_text(json.dumps(obj), encoding="utf-8")
    _, app, _ = start(scripted, w)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        assert screen.query_one("#lore", OptionList).option_count == 2
        screen.query_one("#lore", OptionList).highlighted = 1
        screen.query_one("#remove-lore").press()
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and screen.is_dirty())
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
    book = card_json(w, "mara")["data"]["character_book"]
    assert book["name"] == "Shop" and book["scan_depth"] == 6
    assert book["entries"] == [obj["data"]["character_book"]["entries"][0]]


async def test_without_a_model_counts_say_no_tokenizer(home, scripted):
    _, app, _ = start(scripted, tokenizer=None, model_override="/nonexistent/model.gguf")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        await wait_until(pilot, lambda: screen.no_tokenizer is not None)
        assert label(screen, "description") == "Description  (no tokenizer)"
        assert str(screen.query_one("#total", Static).render()).startswith("Token counts: no tokenizer")


@pytest.mark.model
async def test_counts_are_exact_with_the_real_tokenizer(home, scripted, model_path, engine):
    """No injected tokenizer: the app loads its own vocab-only model, which
    counts exactly like the full model and never waits for its thread."""
    w = ws()
    _, app, _ = start(scripted, w, tokenizer=None, model_override=str(model_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        await wait_until(pilot, lambda: "counting" not in label(screen, "description"), timeout=60)
        card = w.card("mara").card
        for field, title in (("description", "Description"), ("first_mes", "First message")):
            exact = len(engine.tokenize(getattr(card, field), add_bos=False))
            assert label(screen, field) == f"{title}  ({exact} tokens)"
            assert exact != len(getattr(card, field))  # not a character count
        tokenizer = app.tokenizer()
        assert tokenizer is not None and tokenizer is not engine and tokenizer.settings.vocab_only
        # Occupy the generating model's thread (as a long reply would): counting goes on.
        gate = threading.Event()
        engine._owner.submit(lambda: gate.wait(30), 0)
        try:
            text = "Rain on the windows, lamps on — and tea. 🍵"
            screen.query_one("#f-scenario", TextArea).text = text
            await wait_until(pilot, lambda: label(screen, "scenario").startswith("Scenario  (")
                             and "counting" not in label(screen, "scenario")
                             and screen.counts.get(text) is not None, timeout=30)
            assert not gate.is_set()
        finally:
            gate.set()
        exact = len(engine.tokenize(text, add_bos=False))
        assert label(screen, "scenario") == f"Scenario  ({exact} tokens)"


async def test_an_unreadable_lorebook_is_shown_and_kept_verbatim(home, scripted):
    w = ws()
    w.cards()
    path = w.store.character_dir("mara") / "card.json"
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj["data"]["character_book"] = {"entries": [{"keys": ["a"], "content": "x", "position": "sideways"}]}
    path.write_text(json.dumps(obj), encoding="utf-8")
    _, app, notices = start(scripted, w)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_studio(pilot, app)
        lore = screen.query_one("#lore", OptionList)
        assert "Cannot edit" in str(lore.get_option_at_index(0).prompt)
        screen.query_one("#add-lore").press()
        await wait_until(pilot, lambda: any("position" in n for n in notices))
        screen.query_one("#f-personality", TextArea).text = "Calm."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
    saved = card_json(w, "mara")["data"]
    assert saved["personality"] == "Calm."
    assert saved["character_book"] == obj["data"]["character_book"]


async def test_avatar_placeholder_names_the_image_file(home, scripted):
    from tui.core.cards.png_card import placeholder_png

    w = ws()
    w.cards()
    # unreadable (a real image is drawn instead: tests/ui/test_avatar.py)
    (w.store.character_dir("vesper") / "avatar.png").write_bytes(placeholder_png()[:40])
    _, app, _ = start(scripted, w)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(StudioScreen("vesper"))
        await wait_until(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.ready)
        await wait_until(pilot, lambda: app.screen.query_one("#avatar").problem is not None)
        avatar = str(app.screen.query_one("#avatar", Static).render())
        assert avatar.startswith("VH\n") and "(avatar: avatar.png)" in avatar


async def test_a_missing_character_is_an_error_not_a_crash(home, scripted):
    _, app, notices = start(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        app.push_screen(StudioScreen("ghost"))
        await wait_until(pilot, lambda: any("no character 'ghost'" in n for n in notices))
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
