"""Saving a chat's KV cache on exit and restoring it on reopen (resume).

The state file is derived from the conversation, so it lives in the chat's
folder (``kv/``, 0700; files 0600), is deleted with the chat, and is only
a cache: a missing, stale or damaged file just means the next reply reads
the prompt again. A sidecar ``state.toml`` records the key it was made
under (model file, context size, llama.cpp build; see
``LlamaCppEngine.cache_key``) and the file's size; any mismatch discards the
file. Files over ``memory.state_max_mb`` are not written.

The ``kv/`` folder carries a ``CACHEDIR.TAG`` so backup tools that honour
it skip the (large, re-creatable) state files.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from tui.core.fsio import atomic_write, ensure_dir

STATE_DIR = "kv"
STATE_FILE = "state.bin"
META_FILE = "state.toml"
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by Candlelit.\n"
    "# The KV state files here are re-created as needed.\n"
)


def state_dir(chat_dir: Path) -> Path:
    return chat_dir / STATE_DIR


def discard(chat_dir: Path) -> None:
    for name in (STATE_FILE, META_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state_dir(chat_dir) / name).unlink()


def save(engine: Any, chat_dir: Path, max_bytes: int) -> int:
    """Save the engine's cache for this chat; returns bytes written (0 = skipped)."""
    if not hasattr(engine, "save_state"):
        return 0
    size = engine.state_size()
    if size <= 0 or size > max_bytes:
        discard(chat_dir)
        return 0
    folder = state_dir(chat_dir)
    ensure_dir(folder)
    tag = folder / "CACHEDIR.TAG"
    if not tag.exists():
        atomic_write(tag, CACHEDIR_TAG)
    tmp = folder / f".{STATE_FILE}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        written = engine.save_state(tmp)
        actual = tmp.stat().st_size
        if written <= 0 or actual <= 0:
            tmp.unlink()
            return 0
        discard(chat_dir)  # the old pair goes first: never a new file under an old key
        os.replace(tmp, folder / STATE_FILE)
        meta = {
            "version": 1,
            "key": engine.cache_key(),
            "bytes": actual,
            "tokens": engine.cached_tokens(),
        }
        atomic_write(folder / META_FILE, tomli_w.dumps(meta))
        return actual
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def restore(engine: Any, chat_dir: Path) -> int:
    """Load this chat's saved cache if it is valid; returns its tokens (0 = none)."""
    if not hasattr(engine, "load_state"):
        return 0
    folder = state_dir(chat_dir)
    path, meta_path = folder / STATE_FILE, folder / META_FILE
    if not path.is_file() or not meta_path.is_file():
        return 0
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        discard(chat_dir)
        return 0
    if meta.get("key") != engine.cache_key() or meta.get("bytes") != path.stat().st_size:
        discard(chat_dir)
        return 0
    n = engine.load_state(path)
    if n <= 0:
        discard(chat_dir)
    return n


def saved_tokens(chat_dir: Path) -> list[int] | None:
    """The tokens of the chat's saved cache (for reuse reports), or None."""
    meta_path = state_dir(chat_dir) / META_FILE
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    toks = meta.get("tokens")
    if not isinstance(toks, list) or not all(isinstance(t, int) for t in toks):
        return None
    return toks
