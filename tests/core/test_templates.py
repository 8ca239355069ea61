"""The one prompt-file loader reads the shipped files and never falls back silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.core import templates
from tui.core.errors import CandlelitError

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


@pytest.mark.parametrize("name", sorted(p.stem for p in PROMPTS.glob("*.txt")))
def test_every_shipped_prompt_loads_from_its_file(name):
    assert templates.load(name) == (PROMPTS / f"{name}.txt").read_text(encoding="utf-8").rstrip()


def test_a_missing_prompt_file_is_a_clear_error_not_a_default():
    with pytest.raises(templates.PromptFileMissing, match="no-such-prompt.txt is missing") as info:
        templates.load("no-such-prompt")
    assert isinstance(info.value, CandlelitError)


def test_fill_keeps_unknown_braces_and_drops_lines_whose_placeholders_are_empty():
    out = templates.fill("A {x} {y}\nB {z}\n\n\n\nC {unknown}", {"x": "1", "y": "", "z": ""})
    assert out == "A 1 \n\nC {unknown}"
