"""Shift planning: which run of the cache the new prompt can keep."""

from __future__ import annotations

from tui.core.engine.kv_ops import ShiftPlan, common_prefix, plan_shift
from tui.core.prompt.parts import Prompt, Section

SYSTEM = list(range(1000, 1050))
OLD_MEMORY = list(range(2000, 2020))
CHUNK = list(range(3000, 3060))
WINDOW = list(range(4000, 4100))
NEW_MEMORY = list(range(5000, 5030))


def test_after_a_fold_the_window_is_kept_and_only_new_memory_is_new():
    cached = SYSTEM + OLD_MEMORY + CHUNK + WINDOW + [7, 8, 9]
    new = SYSTEM + NEW_MEMORY + WINDOW + [42, 43]
    plan = plan_shift(cached, new)
    assert plan == ShiftPlan(common=50, insert_end=80, src=130, length=100)
    assert plan.new_tokens == 30 and plan.kept == 180


def test_plain_prefix_reuse_needs_no_shift():
    cached = SYSTEM + WINDOW
    assert plan_shift(cached, SYSTEM + WINDOW + [1, 2, 3]) is None
    assert plan_shift(cached, SYSTEM + [9] * 40) is None          # nothing of the cache comes back
    assert plan_shift(cached, SYSTEM + NEW_MEMORY + WINDOW[:20] + [1]) is None  # too short to be worth it


def test_the_last_prompt_token_is_never_kept_by_a_shift():
    cached = SYSTEM + OLD_MEMORY + WINDOW
    new = SYSTEM + WINDOW  # the window ends the prompt
    plan = plan_shift(cached, new)
    assert plan is not None and plan.insert_end + plan.length == len(new) - 1


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0


def test_prompt_json_reports_cached_tokens_per_section():
    tokens = SYSTEM + NEW_MEMORY + WINDOW + [42]
    sections = [
        Section("system", "", 50, 0), Section("memory", "", 30, 50),
        Section("window", "", 100, 80), Section("reply", "", 1, 180),
    ]
    p = Prompt("", tokens, sections, [], "Mara", 0, False, 1000)
    out = p.as_json(SYSTEM + OLD_MEMORY + CHUNK + WINDOW + [7])
    assert out["reusable_tokens"] == 50 and out["shiftable_tokens"] == 100
    assert {s["name"]: s["cached_tokens"] for s in out["sections"]} == {
        "system": 50, "memory": 0, "window": 100, "reply": 0}
    assert p.as_json()["reusable_tokens"] is None
