"""save_character: the one way a hand-made card is saved (the Studio's save)."""

from __future__ import annotations

import pytest

from tui.core.cards.adult_guard import ContentRefused
from tui.core.cards.card import Card, CardError, load_card_file
from tui.core.cards.library import import_card_file, save_character
from tui.core.storage.store import Store


def test_a_new_character_gets_a_folder_named_for_it(tmp_path):
    store = Store(tmp_path)
    card = Card(name="Iris Vale", description="A 40-year-old lighthouse keeper.")
    slug = save_character(store, card, now=1000)
    assert slug == "iris-vale"
    saved = load_card_file(store.character_dir(slug) / "card.json")
    assert saved.name == "Iris Vale"
    assert (card.creation_date, card.modification_date) == (1000, 1000)
    assert sorted(p.name for p in store.characters_dir.iterdir()) == ["iris-vale"]  # nothing left behind


def test_a_second_character_with_the_same_name_gets_its_own_slug(tmp_path):
    store = Store(tmp_path)
    first = save_character(store, Card(name="Mara", description="A 50-year-old potter."))
    second = save_character(store, Card(name="Mara", description="Another Mara, a 50-year-old potter."))
    assert (first, second) == ("mara", "mara-2")
    assert load_card_file(store.character_dir("mara") / "card.json").description == "A 50-year-old potter."


def test_slugs_are_claimed_like_an_import_claims_them(tmp_path):
    store = Store(tmp_path)
    path = tmp_path / "in.json"
    path.write_text('{"name": "Mara", "description": "A 50-year-old potter."}', encoding="utf-8")
    assert import_card_file(store, path).slug == "mara"
    (store.characters_dir / "mara-2").mkdir()  # a folder in the way is never reused
    assert save_character(store, Card(name="Mara")) == "mara-3"
    assert import_card_file(store, path).slug == "mara-4"


def test_saving_an_existing_character_keeps_its_slug_and_creation_date(tmp_path):
    store = Store(tmp_path)
    card = Card(name="Mara", description="A potter.")
    slug = save_character(store, card, now=1000)
    card.description = "A potter, 50."
    assert save_character(store, card, slug, now=2000) == slug
    saved = load_card_file(store.character_dir(slug) / "card.json")
    assert (saved.description, saved.creation_date, saved.modification_date) == ("A potter, 50.", 1000, 2000)


def test_a_refused_card_writes_nothing_and_is_not_stamped(tmp_path):
    store = Store(tmp_path)
    card = Card(name="Mara", description="Mara is a 15-year-old apprentice.")
    with pytest.raises(ContentRefused) as err:
        save_character(store, card, now=1000)
    assert any("15-year-old" in str(r) for r in err.value.reasons)
    assert card.modification_date != 1000
    assert not store.characters_dir.exists() or list(store.characters_dir.iterdir()) == []


def test_a_card_over_the_limits_is_a_card_error(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(CardError):
        save_character(store, Card(name="Mara", description="x" * 10_000_000))
    assert not store.characters_dir.exists() or list(store.characters_dir.iterdir()) == []
