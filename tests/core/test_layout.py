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
    assert "floors: each layer imports only the layers below it KEPT" in r.stdout


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_ruff_finds_nothing():
    r = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_finds_nothing_in_the_core():
    r = subprocess.run([_tool("mypy"), "--no-incremental", "--cache-dir", "/dev/null"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_import_cycle():
    """No two modules import each other, directly or round a loop (imports
    under TYPE_CHECKING count too: they are a cycle in the design)."""
    import grimp

    graph = grimp.build_graph("tui")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    assert cycles == []


def test_core_imports_with_textual_hidden_and_touches_no_files(tmp_path):
    code = (
        "import sys; sys.modules['textual'] = None; sys.modules['rich'] = None\n"
        "import pkgutil, importlib, tui.core\n"
        "for m in pkgutil.walk_packages(tui.core.__path__, 'tui.core.'):\n"
        "    importlib.import_module(m.name)\n"
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
