"""What the CLI writes reaches a terminal as text, never as commands.

``install()`` puts a proxy in front of stdout and stderr that neutralizes
every write (``tui.core.neutralize``): a card name, a lore entry or a reply
cannot set the clipboard (OSC 52), clear the screen, retitle the window,
plant a link or reverse a line. JSON goes through ``print_json``: the same
data, with such characters as ``\\uXXXX`` escapes, written past the proxy
(lossless). Files written to stdout on purpose (``chat export -o -``) use
``raw()``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from tui.core import json_safe, neutralize


class NeutralStream:
    """A text stream that neutralizes what is written to it."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(neutralize(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding...
        return getattr(self.raw, name)


def install() -> None:
    if not isinstance(sys.stdout, NeutralStream):
        sys.stdout = NeutralStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, NeutralStream):
        sys.stderr = NeutralStream(sys.stderr)  # type: ignore[assignment]


def raw() -> TextIO:
    out = sys.stdout
    return out.raw if isinstance(out, NeutralStream) else out


def print_json(obj: Any, *, indent: int | None = 2) -> None:
    out = raw()
    out.write(json_safe(json.dumps(obj, ensure_ascii=False, indent=indent)) + "\n")
    out.flush()
