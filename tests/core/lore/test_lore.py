"""Tests for lorebook parsing, writing and activation (tui.core.lore.book, codec, activate)."""

from __future__ import annotations

import copy
import json
import stat
import time
from pathlib import Path

import pytest

from tui.core.lore.activate import activate
from tui.core.lore.book import Lorebook, LoreEntry, LoreError
from tui.core.lore.codec import book_to_dict, book_to_lorebook_v3, books_from, load_book_file, save_book_file
from tui.core.lore.parse import parse_book
from tui.core.lore.safe_regex import (
    RegexRejected,
    SearchBudget,
    compile_safe,
    split_slash_regex,
)


def words(text: str) -> int:
    return len(text.split())


def entry(keys, content, **fields) -> dict:
    out = {"keys": list(keys), "content": content, "extensions": {}, "enabled": True,
           "insertion_order": 100}
    out.update(fields)
    return out


def book(*entries, **fields) -> Lorebook:
    return parse_book({"entries": list(entries), **fields}, "test")


def fired(result) -> list[str]:
    return [a.text for a in result.activated]


# --------------------------------------------------------------------------
# Keys, scan depth, case and whole words


def test_key_in_recent_messages_activates_and_reports_reason():
    b = book(entry(["dragon"], "Dragons sleep on gold."), entry(["castle"], "The castle is old."))
    result = activate([b], ["We ride north.", "Is that a dragon?"], words)
    assert fired(result) == ["Dragons sleep on gold."]
    assert result.activated[0].reason == "key 'dragon'"
    assert result.activated[0].tokens == 4
    assert result.tokens == 4


def test_scan_depth_limits_how_far_back_keys_are_seen():
    chat = ["the dragon stirs", "quiet", "more quiet"]
    deep = book(entry(["dragon"], "lore"), scan_depth=3)
    shallow = book(entry(["dragon"], "lore"), scan_depth=2)
    assert fired(activate([deep], chat, words)) == ["lore"]
    assert fired(activate([shallow], chat, words)) == []
    # no book value: the caller's default
    plain = book(entry(["dragon"], "lore"))
    assert fired(activate([plain], chat, words, default_scan_depth=2)) == []
    assert fired(activate([plain], chat, words, default_scan_depth=3)) == ["lore"]
    # a scan depth of 0 scans nothing
    assert fired(activate([book(entry(["quiet"], "x"), scan_depth=0)], chat, words)) == []


def test_entry_scan_depth_overrides_the_book():
    chat = ["the dragon stirs", "quiet"]
    by_ext = book(entry(["dragon"], "ext", extensions={"scan_depth": 1}), scan_depth=5)
    by_decorator = book(entry(["dragon"], "@@scan_depth 1\ndeco"), scan_depth=5)
    assert fired(activate([by_ext], chat, words)) == []
    assert fired(activate([by_decorator], chat, words)) == []
    wide = book(entry(["dragon"], "@@scan_depth 2\nwide"), scan_depth=1)
    assert fired(activate([wide], chat, words)) == ["wide"]


def test_case_insensitive_by_default_and_case_sensitive_on_request():
    chat = ["The MOON rises."]
    assert fired(activate([book(entry(["moon"], "a"))], chat, words)) == ["a"]
    assert fired(activate([book(entry(["moon"], "a", case_sensitive=True))], chat, words)) == []
    assert fired(activate([book(entry(["MOON"], "a", case_sensitive=True))], chat, words)) == ["a"]


def test_whole_words_by_default_substring_when_turned_off():
    chat = ["A category of things."]
    assert fired(activate([book(entry(["cat"], "a"))], chat, words)) == []
    off = book(entry(["cat"], "a", extensions={"match_whole_words": False}))
    assert fired(activate([off], chat, words)) == ["a"]
    assert fired(activate([book(entry(["cat"], "a"))], ["the cat, asleep"], words)) == ["a"]
    # phrases and keys whose edges are not letters
    assert fired(activate([book(entry(["old tower"], "a"))], ["to the old tower!"], words)) == ["a"]
    assert fired(activate([book(entry(["old tower"], "a"))], ["the old towers"], words)) == []
    assert fired(activate([book(entry(["C++"], "a"))], ["I write C++ daily"], words)) == ["a"]
    # scripts written without spaces need no word boundary
    assert fired(activate([book(entry(["東京"], "a"))], ["私は東京に住んでいます"], words)) == ["a"]


def test_keys_expand_macros_and_blank_keys_never_match():
    b = book(entry(["{{char}}'s sword"], "The sword is named Dawn."), entry(["  ", ""], "never"))
    result = activate([b], ["Mara's sword gleams"], words, macros={"char": "Mara"})
    assert fired(result) == ["The sword is named Dawn."]


def test_messages_are_not_joined_into_one_phrase():
    b = book(entry(["old tower"], "a"))
    assert fired(activate([b], ["the old", "tower"], words)) == []


# --------------------------------------------------------------------------
# Secondary keys


@pytest.mark.parametrize(
    ("logic", "text", "expected"),
    [
        (0, "dragon and gold", True),      # AND ANY
        (0, "dragon and silver", True),
        (0, "dragon alone", False),
        (1, "dragon gold silver", False),  # NOT ALL
        (1, "dragon gold", True),
        (2, "dragon alone", True),         # NOT ANY
        (2, "dragon silver", False),
        (3, "dragon gold silver", True),   # AND ALL
        (3, "dragon gold", False),
    ],
)
def test_selective_logic_variants(logic, text, expected):
    b = book(entry(["dragon"], "hoard", selective=True, secondary_keys=["gold", "silver"],
                   extensions={"selectiveLogic": logic}))
    assert bool(fired(activate([b], [text], words))) is expected


def test_v2_selective_defaults_to_and_any_and_needs_the_flag():
    sel = book(entry(["dragon"], "hoard", selective=True, secondary_keys=["gold"]))
    assert fired(activate([sel], ["dragon"], words)) == []
    assert fired(activate([sel], ["dragon gold"], words)) == ["hoard"]
    not_sel = book(entry(["dragon"], "hoard", selective=False, secondary_keys=["gold"]))
    assert fired(activate([not_sel], ["dragon"], words)) == ["hoard"]
    empty = book(entry(["dragon"], "hoard", selective=True, secondary_keys=[" "]))
    assert fired(activate([empty], ["dragon"], words)) == ["hoard"]


def test_secondary_key_alone_does_not_activate():
    b = book(entry(["dragon"], "hoard", selective=True, secondary_keys=["gold"]))
    assert fired(activate([b], ["gold"], words)) == []


# --------------------------------------------------------------------------
# constant, enabled, decorators


def test_constant_always_and_disabled_never():
    b = book(
        entry([], "always here", constant=True),
        entry(["dragon"], "off", enabled=False),
        entry([], "off constant", constant=True, enabled=False),
        entry([], "@@activate\noff forced", enabled=False),
    )
    result = activate([b], ["a dragon"], words)
    assert fired(result) == ["always here"]
    assert result.activated[0].reason == "constant"


def test_decorators_activate_dont_activate_and_are_stripped():
    b = book(
        entry([], "@@activate\n\nForced text."),
        entry(["dragon"], "@@dont_activate\nHidden."),
        entry(["dragon"], "@@depth 4\n@@role system\nPlain text.", insertion_order=200),
    )
    result = activate([b], ["dragon"], words)
    assert fired(result) == ["Forced text.", "Plain text."]
    assert result.activated[0].reason == "@@activate"


def test_fallback_decorator_used_only_when_the_first_is_unknown():
    unknown_first = book(entry(["x"], "@@risu_only 1\n@@@dont_activate\nA"))
    known_first = book(entry(["x"], "@@scan_depth 3\n@@@dont_activate\nB"))
    assert fired(activate([unknown_first], ["x"], words)) == []
    assert fired(activate([known_first], ["x"], words)) == ["B"]


def test_additional_and_exclude_keys_decorators():
    b = book(entry(["dragon"], "@@additional_keys gold, silver\n@@exclude_keys slain\nHoard."))
    assert fired(activate([b], ["dragon"], words)) == []
    assert fired(activate([b], ["dragon silver"], words)) == ["Hoard."]
    assert fired(activate([b], ["dragon silver, slain"], words)) == []


def test_empty_content_is_never_added():
    b = book(entry(["dragon"], "   "), entry(["dragon"], "@@activate\n"), entry([], "", constant=True))
    assert activate([b], ["dragon"], words).activated == []


# --------------------------------------------------------------------------
# Order, position, budget, priority


def test_output_ordered_by_insertion_order_and_split_by_position():
    b = book(
        entry(["x"], "third", insertion_order=30, position="after_char"),
        entry(["x"], "first", insertion_order=10),
        entry(["x"], "second", insertion_order=20, position="after_char"),
    )
    result = activate([b], ["x"], words)
    assert fired(result) == ["first", "second", "third"]
    assert [a.position for a in result.activated] == ["before_char", "after_char", "after_char"]
    assert result.text("before_char") == "first"
    assert result.text("after_char") == "second\nthird"
    assert result.text() == "first\nsecond\nthird"


def test_budget_keeps_higher_priority_first():
    b = book(
        entry(["x"], "low low low", priority=1, insertion_order=1, comment="Low"),
        entry(["x"], "high high high", priority=9, insertion_order=50),
        entry(["x"], "mid mid mid", priority=5, insertion_order=99),
        token_budget=6,
    )
    result = activate([b], ["x"], words)
    assert fired(result) == ["high high high", "mid mid mid"]
    assert [a.text for a in result.dropped] == ["low low low"]
    assert any("token budget" in w and "'Low'" in w for w in result.warnings)


def test_without_priority_the_lowest_insertion_order_is_dropped_first():
    b = book(
        entry(["x"], "a a a", insertion_order=1),
        entry(["x"], "b b b", insertion_order=2),
        entry(["x"], "c c c", insertion_order=3),
        token_budget=6,
    )
    assert fired(activate([b], ["x"], words)) == ["b b b", "c c c"]


def test_a_smaller_entry_still_fits_after_a_big_one_is_dropped():
    b = book(
        entry(["x"], "big " * 10, priority=5),
        entry(["x"], "small", priority=1),
        token_budget=4,
    )
    assert fired(activate([b], ["x"], words)) == ["small"]


def test_default_and_total_budgets():
    one = book(entry(["x"], "a b c"), entry(["x"], "d e f", insertion_order=50))
    two = book(entry(["x"], "g h i"))
    assert fired(activate([one], ["x"], words, default_budget=3)) == ["a b c"]
    everything = activate([one, two], ["x"], words, default_budget=100)
    assert len(everything.activated) == 3
    capped = activate([one, two], ["x"], words, default_budget=100, total_budget=6)
    assert len(capped.activated) == 2 and len(capped.dropped) == 1
    # constant entries are budgeted like the others
    const = book(entry([], "k " * 20, constant=True), token_budget=5)
    assert activate([const], [], words).activated == []


# --------------------------------------------------------------------------
# Recursion


def _chain(recursive=True, **extra_ext):
    return book(
        entry(["alpha"], "Alpha mentions beta.", insertion_order=1),
        entry(["beta"], "Beta mentions gamma.", insertion_order=2, extensions=dict(extra_ext)),
        entry(["gamma"], "Gamma mentions delta.", insertion_order=3),
        entry(["delta"], "Delta ends it.", insertion_order=4),
        recursive_scanning=recursive,
    )


def test_recursion_follows_activated_content_up_to_the_depth_limit():
    chat = ["tell me of alpha"]
    full = activate([_chain()], chat, words, max_recursion=3)
    assert fired(full) == ["Alpha mentions beta.", "Beta mentions gamma.",
                           "Gamma mentions delta.", "Delta ends it."]
    assert [a.round for a in full.activated] == [0, 1, 2, 3]
    assert full.activated[1].reason == "recursion: key 'beta'"
    limited = activate([_chain()], chat, words, max_recursion=1)
    assert fired(limited) == ["Alpha mentions beta.", "Beta mentions gamma."]
    none = activate([_chain()], chat, words, max_recursion=0)
    assert fired(none) == ["Alpha mentions beta."]


def test_no_recursion_unless_the_book_asks_for_it():
    assert fired(activate([_chain(recursive=None)], ["alpha"], words)) == ["Alpha mentions beta."]
    assert fired(activate([_chain(recursive=False)], ["alpha"], words)) == ["Alpha mentions beta."]


def test_exclude_and_prevent_recursion():
    excluded = activate([_chain(exclude_recursion=True)], ["alpha"], words)
    assert fired(excluded) == ["Alpha mentions beta."]
    prevented = activate([_chain(prevent_recursion=True)], ["alpha"], words)
    assert fired(prevented) == ["Alpha mentions beta.", "Beta mentions gamma."]


def test_recursion_budget_prefers_direct_matches():
    b = _chain()
    b.token_budget = 6
    result = activate([b], ["alpha and delta"], words)
    assert fired(result) == ["Alpha mentions beta.", "Delta ends it."]


# --------------------------------------------------------------------------
# Regex keys


def test_v3_use_regex_treats_every_key_as_a_pattern():
    b = book(entry([r"drag(on|ons)\b"], "regex hit", use_regex=True))
    assert fired(activate([b], ["Two DRAGONS fly"], words)) == ["regex hit"]
    assert fired(activate([b], ["dragonfly"], words)) == []
    cs = book(entry([r"Drag(on|ons)"], "cs", use_regex=True, case_sensitive=True))
    assert fired(activate([cs], ["dragons"], words)) == []


def test_slash_keys_are_regex_in_sillytavern_entries_only():
    st = book(entry(["/drag(on|ons)/i", "plain.word"], "st", use_regex=True,
                    extensions={"display_index": 0, "useProbability": True}))
    assert st.entries[0].regex_mode == "slash"
    assert fired(activate([st], ["DRAGONS"], words)) == ["st"]
    # the other key is a plain word there: '.' is not "any character"
    assert fired(activate([st], ["plainxword"], words)) == []
    assert fired(activate([st], ["plain.word"], words)) == ["st"]
    # a non-regex V3 entry reads "/x/" as text
    literal = book(entry(["/drag(on|ons)/i"], "lit"))
    assert literal.entries[0].regex_mode == "off"
    assert fired(activate([literal], ["dragons"], words)) == []


def test_slash_regex_flags():
    st_ext = {"display_index": 0}
    sensitive = book(entry(["/Dragon/"], "s", extensions=st_ext))
    assert fired(activate([sensitive], ["dragon"], words)) == []
    assert fired(activate([sensitive], ["Dragon"], words)) == ["s"]
    assert split_slash_regex("/a\\/b/gi") == ("a\\/b", "gi")
    assert split_slash_regex("/a/b/") is None
    assert split_slash_regex("/x/q") is None
    assert split_slash_regex("word") is None


def test_invalid_and_unsupported_patterns_are_skipped_with_a_warning():
    b = book(
        entry(["(unclosed", "fine"], "still works", use_regex=True, insertion_order=1),
        entry([r"(?<=sir )dragon"], "lookbehind", use_regex=True, comment="Sir"),
    )
    result = activate([b], ["sir dragon, fine"], words)
    assert fired(result) == ["still works"]
    assert any("'(unclosed'" in w and "skipped" in w for w in result.warnings)
    assert any("'Sir'" in w and "look-around is not supported" in w for w in result.warnings)
    assert all("\n" not in w for w in result.warnings)


def test_hostile_pattern_cannot_hang_activation():
    chat = ["a" * 50_000 + "!"]
    b = book(entry([r"(a+)+$"], "evil", use_regex=True),
             entry([r"(a|aa)*$"], "evil2", use_regex=True),
             entry([r"(.*a){1000}"], "huge", use_regex=True, comment="Huge"),
             entry(["x" * 600], "long", use_regex=True, comment="Long"))
    start = time.perf_counter()
    result = activate([b], chat, words)
    assert time.perf_counter() - start < 1.0
    assert "huge" not in fired(result) and "long" not in fired(result)
    assert any("'Huge'" in w and "too complex" in w for w in result.warnings)
    assert any("'Long'" in w and "longer than" in w for w in result.warnings)


def test_regex_time_allowance_bounds_a_scan_with_many_costly_patterns():
    chat = ["ab " * 7_000]
    entries = [entry([rf"(.*a){{{200 + i}}}"], f"e{i}", use_regex=True) for i in range(60)]
    start = time.perf_counter()
    result = activate([book(*entries)], chat, words, regex_seconds=0.2)
    assert time.perf_counter() - start < 1.0
    assert any("regex time limit" in w for w in result.warnings)


def test_spent_regex_allowance_skips_regex_keys_but_not_words():
    b = book(entry([r"dragon"], "rx", use_regex=True), entry(["dragon"], "word"))
    result = activate([b], ["dragon"], words, regex_seconds=0)
    assert fired(result) == ["word"]
    assert any("regex time limit" in w for w in result.warnings)


def test_invalid_pattern_writes_nothing_to_the_terminal(capfd):
    with pytest.raises(RegexRejected):
        compile_safe("(?<=never-seen-before)x[")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_case_insensitive_words_match_special_case_pairs():
    b = book(entry(["istanbul"], "a"), entry(["sword"], "b"), entry(["kelvin"], "c"))
    assert fired(activate([b], ["\u0130stanbul, \u017fword, \u212aelvin"], words)) == ["a", "b", "c"]


def test_safe_regex_api():
    assert compile_safe("dragon", ignore_case=True).search("DRAGON")
    with pytest.raises(RegexRejected, match="back-references"):
        compile_safe(r"(a)\1")
    budget = SearchBudget(0)
    assert budget.spent


# --------------------------------------------------------------------------
# Formats


def st_world() -> dict:
    return {
        "entries": {
            "0": {
                "uid": 0, "key": ["lighthouse"], "keysecondary": ["storm"],
                "comment": "Lighthouse", "content": "The lamp never fails.",
                "constant": False, "selective": True, "selectiveLogic": 3,
                "order": 40, "position": 1, "disable": False, "displayIndex": 0,
                "probability": 100, "useProbability": True, "depth": 4,
                "group": "", "caseSensitive": True, "matchWholeWords": False,
                "scanDepth": 2, "excludeRecursion": True, "preventRecursion": False,
                "vectorized": False, "sticky": None, "characterFilter": {"names": []},
            },
            "1": {
                "uid": 1, "key": "harbor, pier", "keysecondary": [], "comment": "Off",
                "content": "Unused.", "order": 10, "position": 0, "disable": True,
            },
        },
        "originalData": {"name": "Coast"},
    }


def test_sillytavern_world_info_import():
    b = parse_book(st_world(), "coast.json", default_name="coast")
    assert b.source_format == "sillytavern"
    assert b.name == "coast"
    first, second = b.entries
    assert first.keys == ["lighthouse"] and first.secondary_keys == ["storm"]
    assert first.comment == "Lighthouse" and first.id == 0
    assert first.selective and first.selective_logic == "and_all"
    assert first.insertion_order == 40 and first.position == "after_char"
    assert first.case_sensitive is True and first.whole_words is False
    assert first.scan_depth == 2 and first.exclude_recursion and not first.prevent_recursion
    assert first.regex_mode == "slash"
    # SillyTavern's own fields survive in extensions, as SillyTavern exports them
    ext = first.extensions
    assert ext["position"] == 1 and ext["display_index"] == 0 and ext["useProbability"] is True
    assert ext["character_filter"] == {"names": []} and ext["probability"] == 100
    assert second.keys == ["harbor", "pier"] and second.enabled is False
    assert b.top_extra == {"originalData": {"name": "Coast"}}
    # and it behaves
    chat = ["storm over the lighthouse"]
    assert [a.entry.comment for a in activate([b], chat, words).activated] == ["Lighthouse"]
    assert activate([b], ["Storm over the Lighthouse"], words).activated == []  # case-sensitive
    assert activate([b], ["harbor"], words).activated == []                     # disabled


def test_sillytavern_entries_in_a_list_are_converted_too():
    b = parse_book({"entries": [{"uid": 3, "key": ["pier"], "content": "Old pier.", "order": 5}]}, "x")
    assert b.entries[0].keys == ["pier"] and b.entries[0].insertion_order == 5


def test_sillytavern_import_converts_stably():
    b = parse_book(st_world(), "coast.json", default_name="coast")
    out = book_to_dict(b)
    assert out["entries"][0]["use_regex"] is True
    assert out["entries"][0]["extensions"]["selectiveLogic"] == 3
    again = parse_book(copy.deepcopy(out), "again")
    assert book_to_dict(again) == out
    assert again.entries[0].selective_logic == "and_all"
    assert again.entries[0].whole_words is False and again.entries[0].case_sensitive is True


def lorebook_v3() -> dict:
    return {
        "spec": "lorebook_v3",
        "data": {
            "name": "Harbor Town",
            "description": "Places and people.",
            "scan_depth": 6,
            "token_budget": 300,
            "recursive_scanning": True,
            "extensions": {"tool": {"v": 2}},
            "entries": [
                {
                    "keys": ["harbor master"], "content": "Ilse runs the harbor.",
                    "extensions": {"x": 1}, "enabled": True, "insertion_order": 7,
                    "case_sensitive": None, "use_regex": False, "constant": False,
                    "name": "Ilse", "priority": 3, "id": "ilse-1", "comment": "",
                    "selective": False, "secondary_keys": [], "position": "after_char",
                    "future_field": {"kept": True},
                },
                {"keys": ["fog"], "content": "Fog rolls in at dusk.", "extensions": {},
                 "enabled": True, "insertion_order": 2, "use_regex": False},
            ],
            "unknown_book_field": [1, 2],
        },
        "producer": "some editor",
    }


def test_lorebook_v3_import():
    b = parse_book(lorebook_v3(), "harbor.json")
    assert b.source_format == "lorebook_v3"
    assert (b.name, b.description, b.scan_depth, b.token_budget, b.recursive_scanning) == (
        "Harbor Town", "Places and people.", 6, 300, True)
    assert b.extensions == {"tool": {"v": 2}}
    assert b.extra == {"unknown_book_field": [1, 2]}
    assert b.top_extra == {"producer": "some editor"}
    ilse = b.entries[0]
    assert (ilse.name, ilse.priority, ilse.id, ilse.position) == ("Ilse", 3, "ilse-1", "after_char")
    assert ilse.extra == {"future_field": {"kept": True}}


def test_round_trip_is_lossless():
    original = lorebook_v3()
    assert book_to_lorebook_v3(parse_book(copy.deepcopy(original), "x")) == original
    # missing optional fields stay missing; sloppy values come back as written
    sloppy = {"entries": [{"keys": "a, b", "content": "c", "insertion_order": "10",
                           "enabled": "true", "extensions": {"selectiveLogic": 1}}]}
    b = parse_book(copy.deepcopy(sloppy), "x")
    assert b.entries[0].keys == ["a", "b"] and b.entries[0].insertion_order == 10
    assert b.entries[0].selective_logic == "not_all"
    assert book_to_dict(b) == sloppy
    assert list(book_to_dict(b)["entries"][0]) == list(sloppy["entries"][0])


def test_edits_are_written_and_derived_fields_go_to_extensions():
    b = parse_book(lorebook_v3(), "x")
    fog = b.entries[1]
    fog.keys = ["fog", "mist"]
    fog.selective_logic = "and_all"
    fog.whole_words = False
    fog.case_sensitive = True
    out = book_to_dict(b)["entries"][1]
    assert out["keys"] == ["fog", "mist"]
    assert out["extensions"] == {"selectiveLogic": 3, "match_whole_words": False}
    assert out["case_sensitive"] is True
    back = parse_book(book_to_dict(b), "y").entries[1]
    assert (back.selective_logic, back.whole_words, back.case_sensitive) == ("and_all", False, True)
    # moving a SillyTavern entry updates SillyTavern's own position code too
    st = parse_book(st_world(), "coast.json")
    st.entries[0].position = "before_char"
    assert book_to_dict(st)["entries"][0]["extensions"]["position"] == 0
    # a new entry gets the fields the spec requires
    b.entries.append(LoreEntry(keys=["pier"], content="Old pier."))
    new = book_to_dict(b)["entries"][2]
    assert new == {"keys": ["pier"], "content": "Old pier.", "extensions": {}, "enabled": True,
                   "insertion_order": 100, "use_regex": False}


def test_card_character_book_and_books_from():
    card_book = {"entries": [entry(["moon"], "The moon is full.")]}
    books = books_from([None, card_book, parse_book(lorebook_v3(), "x")])
    assert len(books) == 2
    assert fired(activate(books, ["moon and fog"], words)) == ["Fog rolls in at dusk.", "The moon is full."]


def test_save_and_load_file(tmp_path):
    path = tmp_path / "books" / "harbor.json"
    b = parse_book(lorebook_v3(), "x")
    save_book_file(path, b)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert book_to_lorebook_v3(load_book_file(path)) == lorebook_v3()
    st_path = tmp_path / "coast.json"
    st_path.write_text(json.dumps(st_world()), encoding="utf-8")
    assert load_book_file(st_path).name == "coast"


# --------------------------------------------------------------------------
# Malformed input


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[1, 2]", "must be a JSON object, got a list"),
        ('{"name": "x"}', "not a lorebook (no 'entries')"),
        ('{"entries": "nope"}', "field 'entries' must be a list, got text"),
        ('{"entries": [], "scan_depth": "deep"}', "field 'scan_depth' must be a number, got text"),
        ('{"entries": [5]}', "entry 1 must be an object, got a number"),
        ('{"entries": [{"keys": 7, "content": ""}]}', "entry 1: field 'keys' must be a list of text"),
        ('{"entries": [{"keys": [null], "content": ""}]}', "found null in it"),
        ('{"entries": [{"keys": [], "content": {}, "comment": "Fog"}]}',
         "entry 1 ('Fog'): field 'content' must be text, got an object"),
        ('{"entries": [{"keys": [], "content": "", "position": "middle"}]}',
         "field 'position' must be 'before_char' or 'after_char'"),
        ('{"entries": [{"keys": [], "content": "", "enabled": "maybe"}]}',
         "field 'enabled' must be true or false"),
        ('{"entries": [{"keys": [], "content": "", "extensions": []}]}',
         "field 'extensions' must be an object, got a list"),
        ('{"entries": {"7": {"key": 5}}}', "entry 7: field 'key' must be a list of text"),
        ('{"entries": {"7": {"key": [], "order": "soon"}}}', "entry 7: field 'order' must be a number"),
        ('{"entries": {"7": "x"}}', "entry 7 must be an object, got text"),
        ('{"spec": "lorebook_v3", "data": 3}', "field 'data' must be an object"),
        ('{"spec": "chara_card_v2", "data": {}}', "this is a character card, not a lorebook"),
        ('{"spec": "novel_lore", "entries": []}', "unsupported lorebook format 'novel_lore'"),
    ],
)
def test_malformed_files_raise_lore_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LoreError) as info:
        load_book_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_unreadable_files_raise_lore_error(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(LoreError, match="file not found"):
        load_book_file(missing)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LoreError, match="not a UTF-8 text file"):
        load_book_file(binary)
    with pytest.raises(LoreError, match="is a folder"):
        load_book_file(tmp_path)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(LoreError, match="nested too deeply"):
        load_book_file(deep)


def test_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"entries": []}).encode())
    assert load_book_file(path).entries == []


def test_core_lore_imports_no_ui():
    source = Path(__file__).resolve().parents[3] / "tui" / "core" / "lore"
    names = sorted(p.name for p in source.glob("*.py"))
    assert "book.py" in names and "safe_regex.py" in names
    for name in names:
        text = (source / name).read_text(encoding="utf-8")
        assert "textual" not in text and "rich" not in text and "tui.ui" not in text
