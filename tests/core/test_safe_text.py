"""neutralize(): controls, bidi steering and invisible characters become visible."""

from __future__ import annotations

import json

from tui.core.safe_text import json_safe, neutralize


def test_controls_and_escape_sequences_become_visible():
    assert neutralize("a\x1b[2Jb\x07\x9b") == "a\u241b[2Jb\u2407\ufffd"
    assert neutralize("line\n\ttab") == "line\n\ttab"


def test_bidi_overrides_and_zero_width_characters_are_marked():
    for ch in ("\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u200e", "\u200f",
               "\u2060", "\ufeff", "\u061c"):
        out = neutralize(f"admin{ch}txt")
        assert ch not in out and out == "admin\u2395txt", repr(ch)


def test_joiners_that_writing_needs_stay():
    couple = "\U0001f469\u200d\u2764\ufe0f\u200d\U0001f468"  # 👩‍❤️‍👨
    assert neutralize(couple) == couple
    assert neutralize("می\u200cخواهم") == "می\u200cخواهم"  # Persian needs the non-joiner


def test_lone_surrogates_never_break_writing():
    out = neutralize("bad \ud800 here")
    assert out == "bad \ufffd here"
    out.encode("utf-8")


def test_json_keeps_the_data_and_drops_the_danger():
    value = {"t": "x\x1b]52;c;aGk=\x07\x9b\u202e\ud800 ok é"}
    text = json_safe(json.dumps(value, ensure_ascii=False))
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text and "\ud800" not in text
    assert "é" in text
    assert json.loads(text) == value
