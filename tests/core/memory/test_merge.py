"""The three-way merge of memory edits (moved here from the Memory screen)."""

from __future__ import annotations

from tui.core.memory.document import Fact, Memory, render_memory
from tui.core.memory.merge import merge_memory, same_memory

UPTO = "0190f3c2a1b2c3d4e5f"


def sample() -> Memory:
    return Memory(
        summary="Mia and Sam met at the harbour café.\n\nThey planned a walk along the cliffs.",
        pinned_summary="Sam is afraid of heights.",
        facts=[
            Fact("Mia is a barista in Lisbon", "0190f3c2a1b2c3d4e00", pinned=False),
            Fact("We agreed to meet at the cabin", "0190f3c2a1b2c3d4e01", pinned=True),
            Fact("Sam likes green tea", "", pinned=False),
        ],
        folded_upto=UPTO,
    )


def test_merge_memory_takes_each_side_that_changed():
    base = sample()
    mine = Memory(summary=base.summary, pinned_summary="Mine.", facts=base.facts[:1], folded_upto=UPTO)
    theirs = Memory(summary=base.summary + "\n\nMore.", pinned_summary=base.pinned_summary,
                    facts=base.facts + [Fact("New from the model", "x1")], folded_upto="0190f3c2a1b2c3d4e99")
    merged, conflicts = merge_memory(base, mine, theirs)
    assert conflicts == []
    assert merged.summary == theirs.summary and merged.folded_upto == "0190f3c2a1b2c3d4e99"
    assert merged.pinned_summary == "Mine."
    assert [f.text for f in merged.facts] == ["Mia is a barista in Lisbon", "New from the model"]
    # both changed the pinned text: a conflict, the user's version in the result
    theirs2 = Memory(summary=base.summary, pinned_summary="Theirs.", facts=base.facts, folded_upto=UPTO)
    merged2, conflicts2 = merge_memory(base, mine, theirs2)
    assert conflicts2 == ["pinned text"] and merged2.pinned_summary == "Mine."
    assert merged2.facts == mine.facts  # only the user changed facts
    # nothing changed on disk: the user's memory as it is
    merged3, conflicts3 = merge_memory(base, mine, base)
    assert conflicts3 == [] and render_memory(merged3) == render_memory(mine)


def test_same_memory_ignores_spacing_at_the_ends():
    a = sample()
    b = Memory(summary=a.summary + "\n\n", pinned_summary=a.pinned_summary, facts=list(a.facts), folded_upto=UPTO)
    assert same_memory(a, b)
    assert not same_memory(
        a, Memory(summary="Other.", pinned_summary=a.pinned_summary, facts=a.facts, folded_upto=UPTO)
    )
