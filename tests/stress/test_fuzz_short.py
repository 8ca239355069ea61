"""A short, deterministic run of the fuzz harness (stress/fuzz.py; the long
run of 100,000 inputs is in the README): no crash, no hang, every refusal a
one-line project error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui.core.config.load import ConfigError, load_config_text

REPO = Path(__file__).resolve().parents[2]


def test_a_short_fuzz_run_finds_no_crash_or_hang(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "stress" / "fuzz.py"), "--count", "3000", "--seed", "11", "--json",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["total"]["inputs"] == 3000
    assert report["total"]["crash"] == 0 and report["total"]["hang"] == 0
    for name, row in report["targets"].items():
        assert row["inputs"] == 500, name
        assert row["clean"] > 0 or name == "memory.md", name  # the mutations reach the error paths


def test_deeply_nested_toml_is_a_clean_error():
    # found by the harness: tomllib recursed past Python's limit
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config_text("a = " + "[" * 5000 + "]" * 5000 + "\n", "deep.toml")


def test_giant_integers_are_clean_errors_in_every_reader(tmp_path):
    # found by the harness: Python refuses to convert integers of over 4,300 digits
    from tui.core.cards.card import CardError
    from tui.core.cards.files import read_card_bytes
    from tui.core.lore.book import LoreError
    from tui.core.lore.codec import load_book_file
    from tui.core.storage.errors import StoreError
    from tui.core.storage.toml_files import read_toml

    giant = "9" * 5000
    with pytest.raises(ConfigError):
        load_config_text(f"[model]\nn_ctx = {giant}\n", "giant.toml")
    (tmp_path / "book.json").write_text('{"entries": {"0": {"key": ["x"], "order": ' + giant + "}}}")
    with pytest.raises(LoreError, match="not valid lorebook JSON"):
        load_book_file(tmp_path / "book.json")
    with pytest.raises(CardError):
        read_card_bytes(('{"name": "A", "n": ' + giant + "}").encode(), "giant.json", ".json")
    (tmp_path / "chat.toml").write_text(f"n = {giant}\n")
    with pytest.raises(StoreError, match="too long"):
        read_toml(tmp_path / "chat.toml", "chat.toml")


def test_memory_md_lines_of_spaces_parse_at_once():
    # found by the harness: a heading or fact line of many spaces backtracked
    # quadratically (37,000 spaces: over a minute); checked in a child process
    # with a hang guard far above the milliseconds it takes now
    code = (
        "from tui.core.memory.document import parse_memory\n"
        "m = parse_memory('#' + ' ' * 1_000_000 + 'x\\n## Facts\\n- fact' + ' ' * 1_000_000 + 'end\\n')\n"
        "print(len(m.facts))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
