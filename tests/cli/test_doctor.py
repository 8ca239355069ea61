"""`candlelit doctor` checks (tui.cli.doctor)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from tui.cli import doctor as D
from tui.core import paths as paths_mod
from tui.core.config.settings import Config, replace
from tui.core.fsio import atomic_write, ensure_dir
from tui.core.profile import profiles as P
from tui.core.profile.workspace import Workspace


@pytest.fixture(autouse=True)
def clean_process(monkeypatch):
    """Other tests in this process may have imported, say, webbrowser: the
    report is about Candlelit, so start each test from a clean view."""
    for name in D.NETWORK_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delenv("TEXTUAL", raising=False)


def ws(profile: str = "default", **model) -> Workspace:
    cfg = Config() if not model else replace(Config(), model=model)
    return Workspace(paths_mod.resolve(), replace(cfg, chat={"profile": profile}))


# ---------------------------------------------------------------- permissions


def test_private_tree_has_no_permission_problems(tmp_path):
    root = ensure_dir(tmp_path / "data" / "profiles" / "a")
    atomic_write(root / "profile.toml", "version = 1\n")
    assert D.permission_problems(tmp_path / "data") == []


def test_loose_modes_links_are_reported(tmp_path):
    data = ensure_dir(tmp_path / "data")
    chats = ensure_dir(data / "chats")
    (chats / "open.jsonl").write_text("x")
    os.chmod(chats / "open.jsonl", 0o644)
    os.chmod(chats, 0o755)
    (data / "link").symlink_to(tmp_path)
    problems = D.permission_problems(data)
    assert any("open.jsonl: file mode 0644, should be 0600" in p for p in problems)
    assert any(p.endswith("chats: folder mode 0755, should be 0700") for p in problems)
    assert any("link: a symbolic link" in p for p in problems)
    assert len(problems) == 3


def test_foreign_owner_is_reported(tmp_path):
    data = ensure_dir(tmp_path / "data")
    problems = D.permission_problems(data, uid=os.getuid() + 1)
    assert problems and "owned by user id" in problems[0]


def test_missing_data_folder_is_fine(tmp_path):
    assert D.permission_problems(tmp_path / "nowhere") == []


# ---------------------------------------------------------------- network


def test_loaded_network_modules():
    assert D.loaded_network_modules(["os", "requests", "tiktoken", "json"]) == ["requests", "tiktoken"]
    assert D.loaded_network_modules(["os", "urllib.parse", "socket"]) == []


def test_devtools_requested():
    assert D.devtools_requested({"TEXTUAL": "debug,devtools"})
    assert not D.devtools_requested({"TEXTUAL": "debug"})
    assert not D.devtools_requested({})


# ---------------------------------------------------------------- the whole report (model not loaded)


def test_healthy_fresh_home(home):
    w = ws()
    w.persona()  # create the default profile
    report = D.diagnose(w, load_model=False)
    assert report.healthy, report.problems
    assert report.data_dir == str(home) and report.profile == "default" and report.profile_exists
    assert not report.encrypted and report.network == "none used"
    lines = "\n".join(report.lines())
    assert "network:     none used" in lines and "status:      healthy" in lines
    j = report.to_json()
    assert j["healthy"] is True and j["network"] == "none used" and j["profile"]["encrypted"] is False


def test_permission_problem_makes_it_unhealthy(home):
    w = ws()
    w.new_chat("mara")
    target = next(home.rglob("messages.jsonl"))
    os.chmod(target, 0o644)
    report = D.diagnose(w, load_model=False)
    assert not report.healthy
    assert any("chmod -R go-rwx" in p for p in report.problems)
    assert any(str(target) in p for p in report.permission_problems)


def test_config_readable_by_others_is_a_problem(home):
    cfg = Path(os.environ["CANDLELIT_CONFIG"])
    cfg.write_text('[privacy]\ndeny_names = ["Sam"]\n')
    os.chmod(cfg, 0o644)
    report = D.diagnose(ws(), load_model=False)
    assert any("can be read by other users" in p for p in report.problems)
    os.chmod(cfg, 0o600)
    assert D.diagnose(ws(), load_model=False).healthy


def test_encrypted_profile_is_reported_honestly(home, fast_kdf):
    paths = paths_mod.resolve()
    P.create_profile(paths, "sec", passphrase="pw", shared=True)
    report = D.diagnose(ws("sec"), load_model=False)
    assert report.encrypted and report.shared
    assert "every file is age-encrypted" in report.encryption_note
    assert "sec, encrypted, shared" in "\n".join(report.lines())
    assert report.healthy


def test_a_plain_file_in_an_encrypted_profile_is_a_problem(home, fast_kdf):
    paths = paths_mod.resolve()
    P.create_profile(paths, "sec", passphrase="pw")
    stray = paths.profile("sec") / "chats" / "x" / "messages.jsonl"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}\n")
    stray.chmod(0o600)
    report = D.diagnose(ws("sec"), load_model=False)
    assert not report.healthy
    assert "1 unencrypted file(s)" in " ".join(report.problems)


def test_missing_profile_is_not_a_problem(home):
    report = D.diagnose(ws("later"), load_model=False)
    assert not report.profile_exists and report.healthy
    assert "later (not created yet)" in "\n".join(report.lines())


def test_a_network_library_in_the_process_is_a_problem(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "tiktoken", types.ModuleType("tiktoken"))
    report = D.diagnose(ws(), load_model=False)
    assert report.network_modules == ["tiktoken"]
    assert not report.healthy and "tiktoken" in report.network


def test_bad_model_file_is_a_problem(home, tmp_path):
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"hello, this is not a GGUF file at all" * 10)
    report = D.diagnose(ws(), model_override=str(bogus), model_source="--model")
    assert not report.model.loads and report.model.source == "--model"
    assert not report.healthy
    assert any(p.startswith("the model does not load") for p in report.problems)
    assert "does not load" in "\n".join(report.lines())


def test_gpu_layers_without_gpu_build_is_a_problem(home, monkeypatch):
    monkeypatch.setattr(D, "gpu_offload_available", lambda: False)
    report = D.diagnose(ws(n_gpu_layers=-1), load_model=False)
    assert any("no GPU support" in p for p in report.problems)
    monkeypatch.setattr(D, "gpu_offload_available", lambda: True)
    assert D.diagnose(ws(n_gpu_layers=-1), load_model=False).healthy


@pytest.mark.model
def test_default_model_loads_vocab_only(home):
    report = D.diagnose(ws())
    assert report.model.loads, report.model.error
    assert "vocabulary loaded fine" in report.model.how
    assert report.model.source == "bundled default"
    assert report.gpu_offload in (True, False)
