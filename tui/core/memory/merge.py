"""Merging memory edits: the user's edits with a change made meanwhile
(a background fold or re-summary), as the Memory screen saves them."""

from __future__ import annotations

from tui.core.memory.document import Memory, render_memory
from tui.core.memory.fold import fact_key


def merge_memory(base: Memory, mine: Memory, theirs: Memory) -> tuple[Memory, list[str]]:
    """Three-way merge of the user's edits (``mine``, made from ``base``)
    with what is on disk now (``theirs``).

    Each part takes whichever side changed it. The summary travels with its
    ``folded_upto``: keeping the user's summary keeps the old cut, so
    messages folded meanwhile return to the window (none is lost from both).
    Facts changed on both sides: the user's list plus facts new on disk.
    Returns the merged memory and the parts both sides changed ([] = clean;
    the user's version of those parts is in the result)."""
    conflicts: list[str] = []
    mine_summary = mine.summary.strip() != base.summary.strip()
    theirs_summary = (theirs.summary.strip(), theirs.folded_upto) != (base.summary.strip(), base.folded_upto)
    if mine_summary:
        summary, upto = mine.summary, base.folded_upto
        if theirs_summary and theirs.summary.strip() != mine.summary.strip():
            conflicts.append("summary")
    else:
        summary, upto = theirs.summary, theirs.folded_upto

    pinned = theirs.pinned_summary
    if mine.pinned_summary.strip() != base.pinned_summary.strip():
        pinned = mine.pinned_summary
        if theirs.pinned_summary.strip() not in (base.pinned_summary.strip(), mine.pinned_summary.strip()):
            conflicts.append("pinned text")

    if mine.facts == base.facts:
        facts = list(theirs.facts)
    elif theirs.facts == base.facts:
        facts = list(mine.facts)
    else:
        known = {fact_key(f.text) for f in base.facts} | {fact_key(f.text) for f in mine.facts}
        facts = list(mine.facts) + [f for f in theirs.facts if fact_key(f.text) not in known]
    merged = Memory(summary=summary, pinned_summary=pinned, facts=facts, folded_upto=upto,
                    version=max(base.version, theirs.version))
    return merged, conflicts


def same_memory(a: Memory, b: Memory) -> bool:
    """Equal as memory.md would store them (spacing at the ends ignored)."""
    return render_memory(a) == render_memory(b)
