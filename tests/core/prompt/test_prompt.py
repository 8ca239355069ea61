"""Prompt layout, exact budgets and cache-friendly cuts (char-level tokenizer)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from tui.core.engine.scripted import ScriptedEngine
from tui.core.prompt.builder import PromptBuilder
from tui.core.prompt.formats import get_format
from tui.core.prompt.parts import CharacterText, PromptTooLong, Turn

char_tokens = ScriptedEngine().tokenize  # one token per character


MARA = CharacterText(
    name="Mara",
    description="{{char}} runs a bookshop and remembers {{USER}}'s day.",
    personality="warm",
    scenario="A rainy evening.",
    mes_example="<START>\n{{user}}: Hello\n{{char}}: Welcome back.",
)


def builder(n_ctx=4000, reserve=100, chunk=4, fmt="transcript") -> PromptBuilder:
    return PromptBuilder(get_format(fmt), char_tokens, n_ctx, reserve, system_text="Roleplay as {{char}}.", chunk=chunk)


def turns(n: int) -> list[Turn]:
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(Turn("Mara", "assistant", f"reply number {i} " + "x" * 40))
        else:
            out.append(Turn("Sam", "user", f"message number {i} " + "y" * 40))
    return out


def test_layout_order_macros_and_stops():
    p = builder().build(MARA, "Sam", "a night-shift nurse", turns(3))
    names = [s.name for s in p.sections]
    assert names == ["system", "examples", "window", "reply"]
    assert p.text.startswith("Roleplay as Mara.")
    assert "Mara runs a bookshop and remembers Sam's day." in p.text  # case-insensitive macro
    assert "About Sam: a night-shift nurse" in p.text
    assert "Sam: Hello\nMara: Welcome back." in p.text
    assert p.text.endswith("\nMara:")
    assert p.stop == ["\nSam:"]
    # exact counts: the sections add up to the whole prompt
    assert sum(s.tokens for s in p.sections) == len(p.tokens) == len(p.text) + 1
    assert p.sections[0].start == 0
    for a, b in pairwise(p.sections):
        assert b.start == a.start + a.tokens


def test_unknown_macros_left_as_typed():
    c = CharacterText(name="Mara", description="{{char}} says {{weather}} and {{ user }}")
    p = builder().build(c, "Sam", "", [])
    assert "Mara says {{weather}} and Sam" in p.text


def test_card_system_prompt_replaces_global_with_original():
    c = CharacterText(name="Mara", system_prompt="Card rules. {{original}}")
    p = builder().build(c, "Sam", "", [])
    assert p.text.startswith("Card rules. Roleplay as Mara.")


def test_post_history_instructions_come_after_the_window():
    c = CharacterText(name="Mara", post_history_instructions="Keep it short, {{user}}.")
    p = builder().build(c, "Sam", "", turns(2))
    assert [s.name for s in p.sections][-2:] == ["volatile", "reply"]
    assert p.text.index("Keep it short, Sam.") > p.text.index("message number 1")


def test_everything_fits_no_cut():
    p = builder().build(MARA, "Sam", "", turns(10))
    assert p.window_start == 0 and not p.dropped_examples
    assert len(p.tokens) <= p.budget


def test_examples_dropped_before_any_message():
    full = builder().build(MARA, "Sam", "", turns(6))
    tight = builder(n_ctx=len(full.tokens) + 100 - 10).build(MARA, "Sam", "", turns(6))
    assert tight.dropped_examples
    assert tight.window_start == 0
    assert "Welcome back." not in tight.text


def test_cut_moves_in_whole_chunks_and_keeps_prefix_stable():
    b = builder(n_ctx=900, reserve=100, chunk=4)
    starts, prompts = [], []
    for n in range(8, 30):
        p = b.build(MARA, "Sam", "", turns(n))
        assert len(p.tokens) <= p.budget
        starts.append(p.window_start)
        prompts.append(p)
    assert all(s % 4 == 0 for s in starts)
    assert starts[-1] > 0
    # between cut moves each prompt extends the previous one's text (cache-friendly)
    for prev, cur in pairwise(prompts):
        if prev.window_start == cur.window_start:
            body = prev.text[: -len("\nMara:")]
            assert cur.text.startswith(body)
    moves = sum(1 for a, b in pairwise(starts) if a != b)
    assert moves < len(starts) / 2  # not once per turn


def test_too_long_even_alone_is_a_clear_error():
    c = CharacterText(name="Mara", description="z" * 5000)
    with pytest.raises(PromptTooLong, match="raise model.n_ctx"):
        builder(n_ctx=1000).build(c, "Sam", "", turns(2))


def test_other_names_all_become_stops():
    p = builder().build(MARA, "Sam", "", turns(2), other_names=["Ana", "Mara"])
    assert set(p.stop) == {"\nSam:", "\nAna:"}


def test_instruct_preset_renders_and_counts():
    p = builder(fmt="chatml").build(MARA, "Sam", "", turns(4))
    assert p.text.startswith("<|im_start|>system\n")
    assert p.text.endswith("<|im_start|>assistant\nMara:")
    assert "<|im_end|>" in p.stop
    assert sum(s.tokens for s in p.sections) == len(p.tokens)


def test_as_json_reports_reusable_prefix():
    p = builder().build(MARA, "Sam", "", turns(3))
    cached = p.tokens[:50] + [0, 0]
    data = p.as_json(cached)
    assert data["reusable_tokens"] == 50
    assert data["prompt_tokens"] == len(p.tokens)
    assert [s["name"] for s in data["sections"]][0] == "system"


def _book():
    from tui.core.lore.parse import parse_book

    return parse_book(
        {
            "name": "Harbour",
            "entries": [
                {"keys": [], "content": "The town of Brackwater sits on a cold sea.", "constant": True,
                 "enabled": True, "insertion_order": 1, "position": "before_char"},
                {"keys": ["lighthouse"], "content": "The lighthouse keeper is named Orrin.", "enabled": True,
                 "insertion_order": 5, "position": "after_char"},
                {"keys": ["ferry"], "content": "The ferry stopped running in 1998.", "enabled": True,
                 "insertion_order": 6, "position": "before_char"},
            ],
        },
        "test",
    )


def test_lore_constant_in_stable_part_triggered_in_volatile():
    t = turns(2) + [Turn("Sam", "user", "Who keeps the LIGHTHOUSE these days?")]
    p = builder().build(MARA, "Sam", "", t, books=[_book()])
    system = p.sections[0].text
    assert "Brackwater" in system and system.index("Brackwater") < system.index("runs a bookshop")
    volatile = next(s for s in p.sections if s.name == "volatile").text
    assert "Orrin" in volatile and "ferry" not in p.text  # only what the chat mentions
    assert p.text.index("Orrin") > p.text.index("LIGHTHOUSE")


def test_lore_not_triggered_keeps_prompt_free_of_it():
    p = builder().build(MARA, "Sam", "", turns(3), books=[_book()])
    assert "Orrin" not in p.text and "Brackwater" in p.text
    assert [s.name for s in p.sections] == ["system", "examples", "window", "reply"]


def test_triggered_lore_does_not_disturb_the_cached_prefix():
    t = turns(3)
    before = builder().build(MARA, "Sam", "", t, books=[_book()])
    after = builder().build(MARA, "Sam", "", t + [Turn("Sam", "user", "Is the lighthouse open?")], books=[_book()])
    body = before.text[: -len("\nMara:")]
    assert after.text.startswith(body)  # lore appears after the window, so the prefix is kept
