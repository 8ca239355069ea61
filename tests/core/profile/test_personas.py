"""Personas in profile.toml: validation, round trip, legacy [persona], errors."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from tui.core.errors import CandlelitError
from tui.core.profile.personas import (
    MAX_NAME,
    PersonaError,
    PersonaProfile,
    add_persona,
    check_persona_name,
    get_persona,
    list_personas,
    remove_persona,
    update_persona,
)
from tui.core.storage.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "profiles" / "default")


def raw_profile(store: Store) -> dict:
    with open(store.profile_file, "rb") as f:
        return tomllib.load(f)


def write_profile(store: Store, text: str) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    store.profile_file.write_text(text, encoding="utf-8")


ALEX = PersonaProfile("Alex", "Tall, fond of puzzles.", ("heights", "loud arguments"), ("jealousy",))
SAM = PersonaProfile("Sam", "Likes long walks.", ("Loud arguments",), ("surprises",))


# -- validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "needs a name"),
        ("   ", "needs a name"),
        ("Al:ex", "cannot contain ':'"),
        ("Alex\nSam", "on one line"),
        ("Alex\r", "on one line"),
        ("Al\x00ex", "control characters"),
        ("x" * (MAX_NAME + 1), "too long (65 characters; at most 64)"),
        (42, "must be text"),
    ],
)
def test_bad_names_raise_one_line_persona_errors(name: object, fragment: str) -> None:
    with pytest.raises(PersonaError) as info:
        PersonaProfile(name)  # type: ignore[arg-type]
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(info.value, CandlelitError)  # so the CLI prints it as one line


def test_names_are_trimmed_and_64_characters_are_allowed() -> None:
    assert check_persona_name("  Alex   Reed ") == "Alex Reed"
    assert PersonaProfile("y" * MAX_NAME).name == "y" * MAX_NAME


def test_limits_are_cleaned_and_deduplicated() -> None:
    p = PersonaProfile("Alex", "  hi  ", ["heights", "", "  ", "Heights", "loud\narguments"], ["x"])
    assert p.description == "hi"
    assert p.hard_limits == ("heights", "loud arguments")
    assert p.soft_limits == ("x",)


def test_limits_must_be_a_list_not_a_string() -> None:
    with pytest.raises(PersonaError, match="hard_limits must be a list"):
        PersonaProfile("Alex", hard_limits="heights")  # type: ignore[arg-type]


def test_overlong_limit_is_refused() -> None:
    with pytest.raises(PersonaError, match="hard limit is too long"):
        PersonaProfile("Alex", hard_limits=("x" * 201,))


# -- reading ---------------------------------------------------------------


def test_missing_profile_gives_the_default_persona_without_creating_files(store: Store) -> None:
    assert list_personas(store, "Robin") == [PersonaProfile("Robin")]
    assert list_personas(store) == [PersonaProfile("You")]
    assert not store.root.exists()


def test_legacy_single_persona_table_is_the_first_persona(store: Store) -> None:
    write_profile(
        store,
        'version = 1\nstarters_installed = ["mara"]\n\n[persona]\nname = "Ada"\ndescription = "A painter."\n',
    )
    assert list_personas(store) == [PersonaProfile("Ada", "A painter.")]
    add_persona(store, SAM)
    assert [p.name for p in list_personas(store)] == ["Ada", "Sam"]
    data = raw_profile(store)
    assert data["persona"] == {"name": "Ada", "description": "A painter."}
    assert data["starters_installed"] == ["mara"]  # other keys survive
    assert data["personas"][0] == {"name": "Ada", "description": "A painter.", "hard_limits": [], "soft_limits": []}


def test_round_trip_through_profile_toml(store: Store) -> None:
    update_persona(store, ALEX, old_name="You")  # the default persona becomes Alex
    add_persona(store, SAM)
    got = list_personas(store)
    assert got == [ALEX, SAM]
    assert got[0].hard_limits == ("heights", "loud arguments")
    data = raw_profile(store)
    assert [t["name"] for t in data["personas"]] == ["Alex", "Sam"]
    assert data["personas"][1]["soft_limits"] == ["surprises"]
    assert stat.S_IMODE(store.profile_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_get_persona_is_case_insensitive(store: Store) -> None:
    add_persona(store, SAM)
    assert get_persona(store, "  sAM ") == SAM
    with pytest.raises(PersonaError, match=r"no persona named 'Jo' \(personas: You, Sam\)"):
        get_persona(store, "Jo")


def test_personas_list_is_authoritative_over_a_missing_persona_table(store: Store) -> None:
    write_profile(store, 'version = 1\n\n[[personas]]\nname = "Sam"\nhard_limits = ["heights"]\n')
    assert list_personas(store) == [PersonaProfile("Sam", hard_limits=("heights",))]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('version = 1\npersonas = "Sam"\n', "'personas' must be a list"),
        ('version = 1\npersonas = ["Sam"]\n', "each persona must be a table"),
        ('version = 1\n[[personas]]\nname = "Sam"\n[[personas]]\nname = "sam"\n', "'sam' twice"),
        ('version = 1\n[[personas]]\nname = "Sam"\n[[personas]]\nname = "A:B"\n', "persona 2: persona name 'A:B'"),
        ('version = 1\n[[personas]]\nname = "Sam"\nsoft_limits = [1]\n', "soft_limits must be a list"),
    ],
)
def test_hand_broken_profile_gives_a_clear_error(store: Store, text: str, fragment: str) -> None:
    write_profile(store, text)
    with pytest.raises(PersonaError) as info:
        list_personas(store)
    assert fragment in str(info.value)
    assert "profile.toml" in str(info.value)


# -- changing --------------------------------------------------------------


def test_add_refuses_a_taken_name_in_any_case(store: Store) -> None:
    add_persona(store, SAM)
    with pytest.raises(PersonaError, match="a persona named 'SAM' already exists"):
        add_persona(store, PersonaProfile("SAM"))
    with pytest.raises(PersonaError, match="'you' already exists"):
        add_persona(store, PersonaProfile("you"))  # the legacy default
    assert [p.name for p in list_personas(store)] == ["You", "Sam"]


def test_update_keeps_the_place_and_changes_fields(store: Store) -> None:
    add_persona(store, ALEX)
    add_persona(store, SAM)
    update_persona(store, PersonaProfile("alex", "New text", soft_limits=("rain",)))
    got = list_personas(store)
    assert [p.name for p in got] == ["You", "alex", "Sam"]
    assert got[1].description == "New text"
    assert got[1].hard_limits == ()
    assert got[1].soft_limits == ("rain",)


def test_update_with_old_name_renames_and_mirrors_the_first_persona(store: Store) -> None:
    add_persona(store, SAM)
    update_persona(store, PersonaProfile("Alex", "Tall."), old_name="You")
    assert [p.name for p in list_personas(store)] == ["Alex", "Sam"]
    assert raw_profile(store)["persona"] == {"name": "Alex", "description": "Tall."}
    # what Workspace.persona() reads
    assert store.load_profile()["persona"]["name"] == "Alex"
    with pytest.raises(PersonaError, match="'sam' already exists"):
        update_persona(store, PersonaProfile("sam"), old_name="Alex")
    with pytest.raises(PersonaError, match="no persona named 'Jo'"):
        update_persona(store, PersonaProfile("Jo"))


def test_remove_first_moves_the_default_and_last_cannot_go(store: Store) -> None:
    add_persona(store, ALEX)
    add_persona(store, SAM)
    removed = remove_persona(store, "YOU")
    assert removed.name == "You"
    assert [p.name for p in list_personas(store)] == ["Alex", "Sam"]
    assert raw_profile(store)["persona"]["name"] == "Alex"
    remove_persona(store, "alex")
    assert list_personas(store) == [SAM]
    with pytest.raises(PersonaError, match="cannot remove 'Sam': it is the only persona"):
        remove_persona(store, "Sam")
    with pytest.raises(PersonaError, match="no persona named 'Alex'"):
        remove_persona(store, "Alex")
    assert list_personas(store) == [SAM]
