"""Keep llama.cpp's log off the user's terminal.

llama.cpp logs to stderr from C, which would scribble over the TUI and the
CLI's streamed reply. We install one callback that keeps the last few
warning/error lines in memory (for a clear message when a model fails to
load) and prints nothing. Log lines never contain chat text at these levels,
and nothing is written to disk.
"""

from __future__ import annotations

import collections
import ctypes
import threading

_lock = threading.Lock()
_recent: collections.deque[str] = collections.deque(maxlen=20)
_installed: list[object] = []   # keeps the ctypes callback alive
_ERROR = 3


def install() -> None:
    if _installed:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level == _ERROR:
            line = text.decode("utf-8", "replace").strip()
            if line:
                with _lock:
                    _recent.append(line)

    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    _installed.append(_callback)


def last_error() -> str:
    with _lock:
        return _recent[-1] if _recent else ""
