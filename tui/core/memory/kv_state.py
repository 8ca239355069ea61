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
import tomllib
from pathlib import Path

import tomli_w

from tui.core.engine.api import Engine
from tui.core.fsio import atomic_write, ensure_dir, is_sealed

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


def save(engine: Engine, chat_dir: Path, max_bytes: int) -> int:
    """Save the engine's cache for this chat; returns bytes written (0 = skipped).

    The state comes from the engine as bytes and is written with the profile's
    own file layer, so an encrypted profile stores it encrypted like the rest.
    """
    size = engine.state_size()
    if size <= 0 or size > max_bytes:
        discard(chat_dir)
        return 0
    blob = engine.state_blob()
    if not blob:
        return 0
    folder = state_dir(chat_dir)
    ensure_dir(folder)
    tag = folder / "CACHEDIR.TAG"
    if not is_sealed(folder) and not tag.exists():  # a sealed folder is not a real one
        atomic_write(tag, CACHEDIR_TAG)
    discard(chat_dir)  # the old pair goes first: never a new file under an old key
    atomic_write(folder / STATE_FILE, blob)
    meta = {
        "version": 2,
        "key": engine.cache_key(),
        "bytes": len(blob),
        "tokens": engine.cached_tokens(),
    }
    atomic_write(folder / META_FILE, tomli_w.dumps(meta))
    return len(blob)


def restore(engine: Engine, chat_dir: Path) -> int:
    """Load this chat's saved cache if it is valid; returns its tokens (0 = none)."""
    folder = state_dir(chat_dir)
    path, meta_path = folder / STATE_FILE, folder / META_FILE
    if not path.is_file() or not meta_path.is_file():
        return 0
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != engine.cache_key():
            raise ValueError("made under another model or build")
        blob = path.read_bytes()
        if meta.get("bytes") != len(blob):
            raise ValueError("cut short")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, RecursionError):
        discard(chat_dir)
        return 0
    n = engine.load_state_blob(blob)
    if n <= 0:
        discard(chat_dir)
    return n


def saved_tokens(chat_dir: Path) -> list[int] | None:
    """The tokens of the chat's saved cache (for reuse reports), or None."""
    meta_path = state_dir(chat_dir) / META_FILE
    try:
        meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    toks = meta.get("tokens")
    if not isinstance(toks, list) or not all(isinstance(t, int) for t in toks):
        return None
    return toks
