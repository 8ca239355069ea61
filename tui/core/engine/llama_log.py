"""Keep llama.cpp's log off the user's terminal, without touching our fds.

The last few warning/error lines stay in memory for load errors; nothing is
printed or written. See docs/ARCHITECTURE.md#the-engine-seam.
"""

from __future__ import annotations

import collections
import ctypes
import threading

_lock = threading.Lock()
_recent: collections.deque[str] = collections.deque(maxlen=20)
_installed: list[object] = []   # keeps the ctypes callback alive
_ERROR = 4      # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation
_CONT = 5
_last_level = [0]


def install() -> None:
    if _installed:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if level != _CONT:
            _last_level[0] = level
        if level == _ERROR or (level == _CONT and _last_level[0] == _ERROR):
            line = text.decode("utf-8", "replace").strip()
            if line:
                with _lock:
                    _recent.append(line)

    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    _installed.append(_callback)
    _keep_fds_alone()


class _NoRedirect:
    """Stand-in for llama_cpp._utils.suppress_stdout_stderr."""

    def __init__(self, disable: bool = True) -> None:
        self.disable = disable

    def __enter__(self) -> _NoRedirect:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _keep_fds_alone() -> None:
    import llama_cpp._internals
    import llama_cpp.llama

    for module in (llama_cpp.llama, llama_cpp._internals):
        if hasattr(module, "suppress_stdout_stderr"):
            setattr(module, "suppress_stdout_stderr", _NoRedirect)  # noqa: B010 - not in its stubs


def last_error() -> str:
    with _lock:
        return _recent[-1] if _recent else ""
