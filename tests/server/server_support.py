"""Fixtures for the server tests, imported by each module (not a conftest: its
name would shadow tests/conftest.py for `from conftest import ...`): a real
llama-server (built from the llama.cpp that llama-cpp-python vendors:
.ci/llama_server.sh) on 127.0.0.1 with the bundled model.

The binary comes from $CANDLELIT_LLAMA_SERVER_DIR (CI sets it) or PATH;
without one these tests skip with that reason. Sockets are allowed to
loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def server_binary(name: str = "llama-server") -> str | None:
    folder = os.environ.get("CANDLELIT_LLAMA_SERVER_DIR")
    if folder and (Path(folder) / name).is_file():
        return str(Path(folder) / name)
    return shutil.which(name)


# every server test module: sockets to loopback only
LOOPBACK_ONLY = pytest.mark.allow_hosts(["127.0.0.1"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    slot_dir: Path
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(model: Path, folder: Path, *extra: str, slots: int = 2, ctx: int = 4096) -> Server:
    binary = server_binary()
    if binary is None:
        pytest.skip("no llama-server: run .ci/llama_server.sh and set CANDLELIT_LLAMA_SERVER_DIR")
    port = free_port()
    slot_dir = folder / "slots"
    slot_dir.mkdir(parents=True, exist_ok=True)
    log = folder / f"server-{port}.log"
    cmd = [
        binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
        "-np", str(slots), "-c", str(ctx * slots), "-t", "2", "--no-webui",
        "--swa-full", "--slot-save-path", str(slot_dir), *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", port, proc, slot_dir, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if b" 200 " in s.recv(200):
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("llama-server did not become ready in 120 s")


@pytest.fixture(scope="session")
def llama_server(model_path, tmp_path_factory) -> Iterator[Server]:
    server = start_server(model_path, tmp_path_factory.mktemp("llama-server"))
    yield server
    server.stop()


@pytest.fixture
def spare_server(model_path, tmp_path):
    """Start another server with extra flags (stopped after the test)."""
    started: list[Server] = []

    def start(*extra: str, slots: int = 1, ctx: int = 1024) -> Server:
        s = start_server(model_path, tmp_path, *extra, slots=slots, ctx=ctx)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def unused_port() -> int:
    return free_port()
