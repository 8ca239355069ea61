"""The under-18 check is linear: a field of the allowed maximum size
(1,000,000 characters) shaped to make backtracking regexes quadratic is
checked at once, and a hit hidden at its end is still found."""

from __future__ import annotations

import subprocess
import sys

from tui.core.cards.adult_guard import check_text

MB = 1_000_000
SHAPES = {
    "digit then spaces": "5" + " " * MB,
    "age then spaces": "age" + " " * MB,
    "age, spaces, colon, spaces": "age" + " " * (MB // 2) + ":" + " " * (MB // 2),
    "years, spaces, dash": "5 years" + " " * (MB // 2) + "-" + " " * (MB // 2) + "x",
    "digits": "5 " * (MB // 2),
    "newlines": "5\n" * (MB // 2),
}


def test_hostile_fields_of_a_million_characters_check_without_hanging():
    # in a child process with a hang guard far above the expected time (about
    # 0.2 s each); the quadratic patterns this replaced took about 1.5 h
    code = (
        "from tui.core.cards.adult_guard import check_text\n"
        "import tests.core.cards.test_adult_guard_linear as t\n"
        "for name, text in t.SHAPES.items():\n"
        "    assert check_text(text) == [], name\n"
        "    assert check_text(text + ' She is 14 years old.'), name\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_collapsed_whitespace_still_reports_the_phrase_from_the_text():
    assert check_text("age" + " " * 5000 + ":  14") == [("age : 14", "states an age under 18")]
    assert check_text("She\tis   fourteen\n\n years   old.") == [("fourteen years old", "states an age under 18")]
    far = " " * 100_000 + "Kit (14)"
    assert check_text(far, ("Kit",)) == [("Kit (14)", "states an age under 18")]


def test_casefolded_lookalikes_do_not_skip_a_scan():
    assert check_text("She is a \u017fchoolgirl.")  # long s: IGNORECASE reads it as s
