"""The CLI and the app (started through it) turn core dumps off first."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = (
    "import resource, sys\n"
    "from tui.cli.main import main\n"
    "from tui.core.privacy.hardening import dumpable\n"
    "main(['card', 'list'])\n"
    "print('limits', resource.getrlimit(resource.RLIMIT_CORE), 'dumpable', dumpable(), file=sys.stderr)\n"
)


def test_core_dumps_are_off_before_any_profile_opens(cli_env, home):
    out = subprocess.run([sys.executable, "-c", CODE], env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "limits (0, 0)" in out.stderr
    if sys.platform.startswith("linux"):
        assert "dumpable False" in out.stderr
    else:
        pytest.skip("prctl is Linux only; the limit is checked above")
