"""Tests for model resolution and the bundled default model's assembly."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import struct
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from tui.core.engine import model_files as models
from tui.core.engine.gguf import ModelFileError, read_gguf
from tui.core.engine.model_files import (
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_PACKAGE,
    default_model_path,
    ensure_default_model,
    is_default_model,
    resolve_model_path,
    text_progress,
)

REPO = Path(__file__).resolve().parents[3]


def _tiny_gguf() -> bytes:
    key, value = b"general.architecture", b"llama"
    return (
        b"GGUF"
        + struct.pack("<IQQ", 3, 0, 1)
        + struct.pack("<Q", len(key)) + key
        + struct.pack("<I", 8)
        + struct.pack("<Q", len(value)) + value
    )


class FakePackage:
    """A stand-in for the bundled model package, with small chunk files."""

    def __init__(self, root: Path, parts: list[bytes]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.chunks = []
        for i, part in enumerate(parts):
            p = root / f"{DEFAULT_MODEL_NAME}.part{i:02d}"
            p.write_bytes(part)
            self.chunks.append(p)
        self.content = b"".join(parts)
        self.module = types.ModuleType(DEFAULT_MODEL_PACKAGE)
        self.module.MODEL_NAME = DEFAULT_MODEL_NAME
        self.module.EXPECTED_SHA256 = hashlib.sha256(self.content).hexdigest()
        self.module.chunk_paths = lambda: list(self.chunks)


@pytest.fixture
def fake_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePackage:
    # Three chunks, 2.5 MiB in all, so the 1 MiB copy loop runs several times.
    parts = [os.urandom(1024 * 1024), os.urandom(1024 * 1024 + 7), _tiny_gguf() * 1000]
    pkg = FakePackage(tmp_path / "pkg", parts)
    monkeypatch.setitem(sys.modules, DEFAULT_MODEL_PACKAGE, pkg.module)
    return pkg


def _partials(models_dir: Path) -> list[Path]:
    return [p for p in models_dir.iterdir() if p.name.endswith(".partial")]


# --- assembly with a fake package -----------------------------------------------------------

def test_assembles_privately_with_progress(tmp_path: Path, fake_pkg: FakePackage) -> None:
    models_dir = tmp_path / "cache" / "models"
    calls: list[tuple[int, int]] = []
    path = ensure_default_model(models_dir, lambda d, t: calls.append((d, t)))
    total = len(fake_pkg.content)
    assert path == models_dir / DEFAULT_MODEL_NAME == default_model_path(models_dir)
    assert path.read_bytes() == fake_pkg.content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(models_dir.stat().st_mode) == 0o700
    sidecar = models_dir / f"{DEFAULT_MODEL_NAME}.sha256"
    assert sidecar.read_text().split()[0] == fake_pkg.module.EXPECTED_SHA256
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert len(calls) >= 4
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert _partials(models_dir) == []


def test_second_call_is_fast_path(
    tmp_path: Path, fake_pkg: FakePackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = tmp_path / "models"
    path = ensure_default_model(models_dir)
    old = time.time() - 1000
    os.utime(path, (old, old))
    mtime = path.stat().st_mtime_ns

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("must not re-assemble")

    monkeypatch.setattr(models, "_assemble", boom)
    calls: list[tuple[int, int]] = []
    assert ensure_default_model(models_dir, lambda d, t: calls.append((d, t))) == path
    assert path.stat().st_mtime_ns == mtime
    assert calls == []


@pytest.mark.parametrize("damage", ["no_sidecar", "other_hash", "wrong_size"])
def test_reassembles_when_not_vouched_for(
    tmp_path: Path, fake_pkg: FakePackage, damage: str
) -> None:
    models_dir = tmp_path / "models"
    path = ensure_default_model(models_dir)
    sidecar = models_dir / f"{DEFAULT_MODEL_NAME}.sha256"
    if damage == "no_sidecar":
        sidecar.unlink()
    elif damage == "other_hash":
        sidecar.write_text("0" * 64 + "  x\n")
    else:
        path.write_bytes(fake_pkg.content[:-5])
    calls: list[tuple[int, int]] = []
    ensure_default_model(models_dir, lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == len(fake_pkg.content)
    assert path.read_bytes() == fake_pkg.content
    assert sidecar.read_text().split()[0] == fake_pkg.module.EXPECTED_SHA256


def test_hash_mismatch_leaves_nothing(tmp_path: Path, fake_pkg: FakePackage) -> None:
    fake_pkg.module.EXPECTED_SHA256 = "ab" * 32
    models_dir = tmp_path / "models"
    with pytest.raises(ModelFileError, match="checksum"):
        ensure_default_model(models_dir)
    assert not default_model_path(models_dir).exists()
    assert not (models_dir / f"{DEFAULT_MODEL_NAME}.sha256").exists()
    assert _partials(models_dir) == []


def test_missing_chunk(tmp_path: Path, fake_pkg: FakePackage) -> None:
    fake_pkg.chunks[1].unlink()
    with pytest.raises(ModelFileError) as excinfo:
        ensure_default_model(tmp_path / "models")
    assert str(fake_pkg.chunks[1]) in str(excinfo.value)
    assert not default_model_path(tmp_path / "models").exists()


def test_package_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, DEFAULT_MODEL_PACKAGE, None)  # makes import fail
    with pytest.raises(ModelFileError, match="not installed"):
        ensure_default_model(tmp_path / "models")


def test_disk_full(tmp_path: Path, fake_pkg: FakePackage, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write_all = models._write_all
    written = 0

    def filling(fd: int, data: bytes) -> None:
        nonlocal written
        if written >= 1024 * 1024:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write_all(fd, data)
        written += len(data)

    monkeypatch.setattr(models, "_write_all", filling)
    models_dir = tmp_path / "models"
    with pytest.raises(ModelFileError) as excinfo:
        ensure_default_model(models_dir)
    assert os.strerror(errno.ENOSPC) in str(excinfo.value)
    assert str(models_dir) in str(excinfo.value)
    assert not default_model_path(models_dir).exists()
    assert _partials(models_dir) == []


def test_interrupted_assembly_cleans_up(
    tmp_path: Path, fake_pkg: FakePackage
) -> None:
    models_dir = tmp_path / "models"

    def interrupt(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_default_model(models_dir, interrupt)
    assert _partials(models_dir) == []
    assert not default_model_path(models_dir).exists()


def test_killed_assembly_leaves_partial_that_next_call_removes(
    tmp_path: Path, fake_pkg: FakePackage
) -> None:
    models_dir = tmp_path / "models"
    script = textwrap.dedent(
        f"""
        import hashlib, os, sys, types
        from pathlib import Path
        chunks = [Path(p) for p in {[str(c) for c in fake_pkg.chunks]!r}]
        mod = types.ModuleType({DEFAULT_MODEL_PACKAGE!r})
        mod.MODEL_NAME = {DEFAULT_MODEL_NAME!r}
        mod.EXPECTED_SHA256 = {fake_pkg.module.EXPECTED_SHA256!r}
        mod.chunk_paths = lambda: chunks
        sys.modules[{DEFAULT_MODEL_PACKAGE!r}] = mod
        from tui.core.engine.model_files import ensure_default_model
        def die(done, total):
            if done > 0:
                os._exit(9)   # like SIGKILL: no cleanup runs
        ensure_default_model(Path({str(models_dir)!r}), die)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=60)
    assert proc.returncode == 9
    leftovers = _partials(models_dir)
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    assert not default_model_path(models_dir).exists()

    path = ensure_default_model(models_dir)
    assert path.read_bytes() == fake_pkg.content
    assert _partials(models_dir) == []


# --- resolving the model path ---------------------------------------------------------------

def test_resolve_configured_path_with_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_pkg: FakePackage
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.gguf").write_bytes(_tiny_gguf())
    models_dir = tmp_path / "models"
    assert resolve_model_path("~/mine.gguf", models_dir) == tmp_path / "mine.gguf"
    assert not models_dir.exists()  # the default was not assembled


def test_resolve_configured_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        resolve_model_path(str(bad), tmp_path / "models")
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model_path(str(tmp_path / "missing.gguf"), tmp_path / "models")


@pytest.mark.parametrize("configured", [None, "", "   "])
def test_resolve_falls_back_to_default(
    tmp_path: Path, fake_pkg: FakePackage, configured: str | None
) -> None:
    models_dir = tmp_path / "models"
    path = resolve_model_path(configured, models_dir)
    assert path == default_model_path(models_dir)
    assert path.read_bytes() == fake_pkg.content


def test_is_default_model(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    assert is_default_model(models_dir / DEFAULT_MODEL_NAME, models_dir)
    assert is_default_model(tmp_path / "models" / ".." / "models" / DEFAULT_MODEL_NAME, models_dir)
    assert not is_default_model(tmp_path / DEFAULT_MODEL_NAME, models_dir)
    assert not is_default_model(models_dir / "other.gguf", models_dir)


# --- text progress --------------------------------------------------------------------------

def test_text_progress_pipe_writes_few_lines() -> None:
    out = io.StringIO()
    report = text_progress(out)
    total = 1000
    for done in range(0, total + 1, 10):
        report(done, total)
    lines = out.getvalue().splitlines()
    assert lines == [f"Assembling default model… {p}%" for p in (0, 25, 50, 75, 100)]


def test_text_progress_tty_redraws_in_place() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    report = text_progress(out)
    report(0, 200)
    report(1, 200)  # still 0%: nothing new
    report(84, 200)
    report(200, 200)
    assert out.getvalue() == (
        "\rAssembling default model… 0%"
        "\rAssembling default model… 42%"
        "\rAssembling default model… 100%\n"
    )


# --- the real bundled model (copies ~250 MB once) -------------------------------------------

def test_real_default_model(tmp_path: Path) -> None:
    pkg = pytest.importorskip(DEFAULT_MODEL_PACKAGE)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    stale = models_dir / f".{DEFAULT_MODEL_NAME}.dead.partial"
    stale.write_bytes(b"left by a killed run")

    calls: list[tuple[int, int]] = []
    start = time.perf_counter()
    path = ensure_default_model(models_dir, lambda d, t: calls.append((d, t)))
    took = time.perf_counter() - start

    total = sum(Path(p).stat().st_size for p in pkg.chunk_paths())
    assert path.stat().st_size == total
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert not stale.exists()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == pkg.EXPECTED_SHA256

    mtime = path.stat().st_mtime_ns
    start = time.perf_counter()
    assert ensure_default_model(models_dir) == path
    fast = time.perf_counter() - start
    assert path.stat().st_mtime_ns == mtime
    assert fast < 0.5

    info = read_gguf(path)
    assert info.architecture == "gemma3"
    assert info.tensor_count > 0
    template = info.chat_template
    print(
        f"\nassembled in {took:.2f}s, fast path {fast * 1000:.1f}ms; "
        f"arch={info.architecture} name={info.name} ctx={info.context_length} "
        f"swa={info.sliding_window} types={info.tensor_types} "
        f"chat_template={'none' if template is None else repr(template[:200])}"
    )
