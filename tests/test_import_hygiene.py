"""The UI and the CLI talk to the core through ``tui.core`` only (its
public API).

An AST walk, like harlequin's ``tests/unit_tests/test_import_hygiene.py``:
no module under ``tui/ui`` or ``tui/cli`` (imports inside functions
included) imports a ``tui.core.<submodule>``, and every name ``tui.core``
exports resolves.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the folders that may use the core only through its facade
CLIENTS = ("tui/ui", "tui/cli")
FACADE = REPO / "tui" / "core" / "__init__.py"


def _core_imports(path: Path) -> list[str]:
    """Every ``tui.core...`` import in ``path``, as ``module`` or ``module:name``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "tui.core" or a.name.startswith("tui.core.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tui.core" or node.module.startswith("tui.core."):
                found += [f"{node.module}:{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append(f"{'.' * node.level}{node.module or ''}")  # relative: reported, never allowed
    return found


def _modules(folder: str) -> list[Path]:
    paths = sorted((REPO / folder).rglob("*.py"))
    assert paths, f"no modules under {folder}"
    return paths


@pytest.mark.parametrize("folder", CLIENTS)
def test_imports_only_the_core_facade(folder):
    bad = []
    for path in _modules(folder):
        for imp in _core_imports(path):
            if not imp.startswith("tui.core:"):
                bad.append(f"{path.relative_to(REPO)}: {imp}")
    assert bad == [], f"{folder} must import from `tui.core` only:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder", CLIENTS)
def test_never_imports_a_core_module_as_a_name(folder):
    """``from tui.core import storage`` would be the same leak by another door."""
    import tui.core

    bad = []
    for path in _modules(folder):
        for imp in _core_imports(path):
            name = imp.partition(":")[2]
            if name and name not in tui.core.__all__:
                bad.append(f"{path.relative_to(REPO)}: {name}")
    assert bad == [], f"{folder} imports names not in tui.core.__all__:\n" + "\n".join(bad)


def test_every_public_name_resolves():
    import tui.core

    assert len(tui.core.__all__) == len(set(tui.core.__all__))
    for name in tui.core.__all__:
        assert getattr(tui.core, name) is not None, name
    for module, names in tui.core._EXPORTS.items():
        mod = importlib.import_module(f"tui.core.{module}")
        for name in names:
            assert getattr(tui.core, name) is getattr(mod, name), f"{module}.{name}"
    plain = {name for names in tui.core._EXPORTS.values() for name in names}
    assert not plain & set(tui.core._RENAMED), "a renamed name is also exported as it is"
    for public, (module, name) in tui.core._RENAMED.items():
        mod = importlib.import_module(f"tui.core.{module}")
        assert getattr(tui.core, public) is getattr(mod, name), f"{public} = {module}.{name}"


def test_the_type_checking_imports_match_the_runtime_table():
    """The facade says its names twice (for type checkers, and the table
    read at run time): the two must agree."""
    import tui.core

    tree = ast.parse(FACADE.read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    typed: dict[str, set[str]] = {}
    renamed: dict[str, tuple[str, str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tui.core.")
        module = node.module.removeprefix("tui.core.")
        for a in node.names:
            if a.asname is None:
                typed.setdefault(module, set()).add(a.name)
            else:  # only a name in _RENAMED, as it says
                renamed[a.asname] = (module, a.name)
    assert typed == {module: set(names) for module, names in tui.core._EXPORTS.items()}
    assert renamed == tui.core._RENAMED


def test_importing_the_facade_loads_nothing_heavy():
    code = (
        "import sys; import tui.core\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('tui.core.'))\n"
        "assert loaded == [], loaded\n"
        "from tui.core import Session, Workspace\n"
        "assert 'llama_cpp' not in sys.modules\n"
        "assert 'textual' not in sys.modules\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert r.stdout.strip() == "ok", r.stderr
