"""Chat formats: a list of prompt messages into ONE prompt string, by name.

The formats themselves live in :mod:`~tui.core.prompt.presets` and
:mod:`~tui.core.prompt.embedded`; the types they share in :mod:`~tui.core.prompt.chat_format`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tui.core.prompt.chat_format import ChatFormat, FormatError, PromptMessage
from tui.core.prompt.embedded import EmbeddedFormat
from tui.core.prompt.presets import PRESETS, STYLES, PresetFormat, TranscriptFormat

__all__ = ["AUTO", "FORMAT_NAMES", "ChatFormat", "FormatError", "PromptMessage", "choose_format", "get_format"]

FORMAT_NAMES: tuple[str, ...] = ("transcript", "embedded", *PRESETS)
AUTO = "auto"


def _normalize(name: str) -> str:
    return name.strip().lower()


def _unknown(name: str, valid: Sequence[str]) -> FormatError:
    return FormatError(f"unknown chat format {name!r}; choose one of: {', '.join(valid)}")


def get_format(
    name: str,
    *,
    chat_template: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
) -> ChatFormat:
    """The chat format called ``name`` (``auto`` must go through :func:`choose_format`)."""
    key = _normalize(name)
    if key == "transcript":
        return TranscriptFormat()
    if key in STYLES:
        return PresetFormat(key, STYLES[key])
    if key == "embedded":
        if not chat_template or not chat_template.strip():
            raise FormatError(
                "chat format 'embedded' needs the model's chat template, "
                "but this model has none; pick another chat format"
            )
        return EmbeddedFormat(chat_template, bos_token=bos_token, eos_token=eos_token)
    raise _unknown(name, FORMAT_NAMES)


def choose_format(configured: str, *, chat_template: str | None, is_default_model: bool) -> str:
    """Resolve the configured chat format name to a concrete one.

    ``auto``: the bundled default model (a small base model) gets
    ``transcript``; another model gets ``embedded`` when its GGUF carries a
    chat template, else ``transcript``. Any other name is validated and
    returned (lower-cased).
    """
    key = _normalize(configured)
    has_template = bool(chat_template and chat_template.strip())
    if key == AUTO:
        if is_default_model:
            return "transcript"
        return "embedded" if has_template else "transcript"
    if key not in FORMAT_NAMES:
        raise _unknown(configured, (AUTO, *FORMAT_NAMES))
    if key == "embedded" and not has_template:
        raise FormatError(
            "chat format 'embedded' needs the model's chat template, "
            "but this model has none; pick another chat format"
        )
    return key
