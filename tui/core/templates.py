"""The one loader of the prompt files shipped in ``prompts/``.

Found through :mod:`importlib.resources`; a missing file is an error, never a
silent built-in default. See docs/ARCHITECTURE.md#the-bottom-floor.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from tui.core.errors import CandlelitError

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class PromptFileMissing(CandlelitError):
    """A shipped prompt file is not where the package says it is."""


def _prompt_dirs() -> tuple[Traversable, ...]:
    root = files("tui")
    return (root / "_prompts", root / ".." / "prompts")


def load(name: str) -> str:
    """``prompts/<name>.txt`` with trailing whitespace removed."""
    for folder in _prompt_dirs():
        candidate = folder / f"{name}.txt"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").rstrip()
    raise PromptFileMissing(f"the prompt file {name}.txt is missing from this installation; reinstall Candlelit")


def fill(template: str, values: dict[str, str]) -> str:
    """Fill the ``{name}`` placeholders that ``values`` names. A line whose
    named placeholders are all empty is left out; other braces stay as they
    are; runs of blank lines shrink to one."""
    out = []
    for line in template.split("\n"):
        names = [n for n in _PLACEHOLDER.findall(line) if n in values]
        if names and not any(values[n].strip() for n in names):
            continue
        out.append(_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), line))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip()
