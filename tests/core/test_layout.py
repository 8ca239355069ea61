"""Architecture rules: the core never imports Textual; no import-time side effects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_linter_contract_holds():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "core never imports Textual or the UI KEPT" in r.stdout


def test_core_imports_with_textual_hidden_and_touches_no_files(tmp_path):
    code = (
        "import sys; sys.modules['textual'] = None; sys.modules['rich'] = None\n"
        "import pkgutil, importlib, tui.core\n"
        "for m in pkgutil.iter_modules(tui.core.__path__):\n"
        "    importlib.import_module('tui.core.' + m.name)\n"
        "import tui.cli.main, tui.core.config.load, tui.core.config.state, tui.core.paths\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp imported at import time'\n"
        "print('ok')\n"
    )
    env = dict(os.environ, CANDLELIT_HOME=str(tmp_path / "h"), CANDLELIT_CONFIG=str(tmp_path / "c.toml"),
               CANDLELIT_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.strip() == "ok", r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created at import


def test_readme_has_exactly_the_two_commands_ci_runs():
    run = subprocess.run([sys.executable, str(REPO / ".ci/readme_command.py"), "run"], capture_output=True, text=True)
    test = subprocess.run([sys.executable, str(REPO / ".ci/readme_command.py"), "test"], capture_output=True, text=True)
    assert "candlelit" in run.stdout and "pytest" in test.stdout
    ci = (REPO / ".ci/run").read_text()
    assert "readme_command.py test" in ci
