"""Keep llama.cpp's log off the user's terminal, without touching our fds.

llama.cpp logs to stderr from C, which would scribble over the TUI and the
CLI's streamed reply. We install one callback that keeps the last few
warning/error lines in memory (for a clear message when a model fails to
load) and prints nothing. Log lines never contain chat text at these levels,
and nothing is written to disk.

llama-cpp-python (verbose=False) also silences model loading by dup2-ing the
whole process's stdout and stderr to /dev/null for the duration. In the TUI
that threw away whatever Textual drew meanwhile (a blank first frame), and
two loads at once (the chat model and the Studio's tokenizer) could restore
the fds in the wrong order and leave the app drawing into /dev/null for good.
With the log callback in place that redirection is not needed, so we turn it
into a no-op.
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
