"""No core dumps: a crash must not write the decrypted key and chats to disk.

At start (the CLI and the app, before any profile is opened) the process
sets its core file size limit to 0 (``RLIMIT_CORE``, soft and hard, so no
child can raise it again) and, on Linux, marks itself not dumpable
(``prctl(PR_SET_DUMPABLE, 0)``, as KeePassXC does): the kernel then writes
no core file even through a ``core_pattern`` pipe such as systemd-coredump,
and other processes of the same user cannot attach a debugger or read its
memory through ``/proc/<pid>/mem``. On macOS only the limit is set (there is
no prctl; crash reports from ReportCrash hold a stack trace, not memory).
"""

from __future__ import annotations

import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def no_core_dumps() -> list[str]:
    """Apply what this system allows; returns what was done (for doctor)."""
    done: list[str] = []
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        done.append("core file size 0")
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
                done.append("not dumpable")
        except (OSError, AttributeError):
            pass
    return done


def dumpable() -> bool | None:
    """Whether the kernel would dump this process (None: cannot tell here)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return bool(ctypes.CDLL(None).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
    except (OSError, AttributeError):
        return None
