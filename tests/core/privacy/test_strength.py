"""A hint for guessable new passphrases (never a refusal)."""

from __future__ import annotations

import subprocess
import sys

from tui.core.privacy.strength import WEAK_BITS, estimate_bits, passphrase_hint


def test_weak_and_strong_passphrases():
    for weak in ("pw", "password1", "qwertyuiop1234", "aaaaaaaaaaaaaaaaaaaa", "tea by the window",
                 "correct horse battery staple"):
        assert estimate_bits(weak) < WEAK_BITS, weak
        hint = passphrase_hint(weak)
        assert hint is not None and "easy to guess" in hint
    for strong in ("xK9#mQ2!vL7@pZ4$", "lantern juniper quarry velvet orbit", "Tr0ub4dor&3 at Dawn"):
        assert estimate_bits(strong) >= WEAK_BITS, strong
        assert passphrase_hint(strong) is None


def test_the_cli_warns_but_still_encrypts(cli_env, home):
    made = subprocess.run(
        [sys.executable, "-m", "tui", "profile", "create", "Weak", "--encrypted", "--passphrase-stdin"],
        input="password1\n", env=cli_env, capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert "warning: this passphrase looks easy to guess" in made.stderr
    assert "password1" not in made.stderr + made.stdout
