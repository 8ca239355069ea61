"""No network, proven.

- A real chat turn runs in a process that has no network at all: a new
  network namespace (``unshare -rn``) holds only a downed loopback device.
- Running the CLI in this process loads no network client library, and
  importing every ``tui`` module in a fresh interpreter loads none either.
- Candlelit's own source imports nothing that talks to the network and never
  calls ``Llama.from_pretrained`` (which downloads from Hugging Face).

(Textual devtools being off is tested in tests/ui/test_privacy_ui.py.)
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli.doctor import NETWORK_MODULES

REPO = Path(__file__).resolve().parents[2]


def _unshare_reason() -> str | None:
    """Why a no-network namespace cannot be made here (None: it can)."""
    exe = shutil.which("unshare")
    if exe is None:
        return "the unshare tool (util-linux) is not installed"
    try:
        r = subprocess.run([exe, "-rn", "true"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"unshare could not run: {exc}"
    if r.returncode != 0:
        return f"unprivileged network namespaces are not permitted here: {r.stderr.strip() or r.returncode}"
    return None


def offline(*argv: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["unshare", "-rn", *argv], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.model
def test_a_real_chat_turn_with_no_network_at_all(cli_env, home):
    reason = _unshare_reason()
    if reason:
        pytest.skip(reason)
    # the namespace really has no network: even a plain connect fails
    probe = offline(
        sys.executable, "-c",
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('NO NETWORK', e.errno)\n",
        env=cli_env,
    )
    assert probe.stdout.startswith("NO NETWORK"), probe.stdout + probe.stderr

    cl = [sys.executable, "-m", "tui"]
    new = offline(*cl, "chat", "new", "--character", "mara", env=cli_env)
    assert new.returncode == 0, new.stderr
    chat_id = new.stdout.strip()
    say = offline(*cl, "chat", "say", chat_id, "Hello, Mara.", "--max-tokens", "4", "--seed", "3", env=cli_env)
    assert say.returncode == 0, say.stderr
    assert "Traceback" not in say.stderr
    shown = json.loads(offline(*cl, "chat", "show", chat_id, "--json", env=cli_env).stdout)
    roles = [m["role"] for m in shown["messages"]]
    assert roles == ["character", "human", "character"]
    assert shown["messages"][1]["text"] == "Hello, Mara."
    reply = shown["messages"][2]
    assert reply["metrics"]["generated_tokens"] >= 1


def test_running_the_cli_loads_no_network_library(home, capsys):
    from tui.cli import main as cli
    from tui.cli import privacy as cli_privacy

    before = set(sys.modules)
    already = {m for m in NETWORK_MODULES if m in before}  # loaded by other tests in this process, if any
    assert cli.main(["card", "list"]) == 0
    assert cli.main(["chat", "new", "--character", "mara"]) == 0
    chat_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["chat", "show", chat_id, "--json"]) == 0
    args = cli.build_parser().parse_args(["chat", "list"])
    assert cli._dispatch(args) == 0
    # doctor (without loading the model: that is the model test's job)
    from tui.cli.doctor import diagnose

    report = diagnose(cli._workspace(args), load_model=False)
    assert set(report.network_modules) == already
    if not already:
        assert report.network == "none used"
    assert callable(cli_privacy.HANDLERS[("doctor", None)])
    loaded = set(sys.modules) - before
    assert sorted(m for m in NETWORK_MODULES if m in loaded) == []


def test_importing_every_module_loads_no_network_library():
    code = (
        "import importlib, json, pkgutil, sys, tui\n"
        "for m in pkgutil.walk_packages(tui.__path__, 'tui.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "import llama_cpp\n"
        f"print(json.dumps(sorted(m for m in {list(NETWORK_MODULES)!r} if m in sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


# modules whose import in our own code would mean a network path
_FORBIDDEN_IMPORTS = {
    "socket", "ssl", "http", "urllib.request", "urllib3", "requests", "httpx", "aiohttp",
    "tiktoken", "huggingface_hub", "webbrowser", "ftplib", "smtplib", "websockets", "textual_dev",
}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


# The only modules that may reach a network: the server engines' checked
# connection (used only with [engine] kind = "llama-server" or "openai", to the
# one host the user named; httpx is imported inside its functions, so a local
# chat never loads it: the test above checks that).
_SERVER_ENGINE = {"tui/core/engine/address.py": {"socket"}, "tui/core/engine/http.py": {"httpx"}}


def test_our_source_has_no_network_path():
    offenders: list[str] = []
    sources = sorted((REPO / "tui").rglob("*.py")) + sorted((REPO / "bench").rglob("*.py"))
    assert sources
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name in _imports(tree):
            if name in _SERVER_ENGINE.get(str(path.relative_to(REPO)), ()):
                continue
            if any(name == f or name.startswith(f + ".") for f in _FORBIDDEN_IMPORTS):
                offenders.append(f"{path.relative_to(REPO)}: imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "from_pretrained":
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: calls from_pretrained")
    assert offenders == []
