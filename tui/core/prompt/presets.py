"""The formats written out here: ``transcript`` for base models and the instruct presets.

Both are prefix-stable: a preset leaves its last turn open, closing it when the
next turn starts or the generation prompt is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tui.core.prompt.chat_format import (
    DEFAULT_NAMES,
    JOINER,
    REPLY_ROLES,
    ROLES,
    PromptMessage,
    check_role,
    clean_name,
    dedupe,
    message_body,
    name_stops,
    reply_prefix,
)

PRESETS: tuple[str, ...] = ("chatml", "llama3", "mistral", "gemma", "alpaca")


class TranscriptFormat:
    """Plain text for base models: paragraphs, then ``Name: text`` lines.

    The generation prompt is ``Name:`` without a trailing space (see the module
    docstring). A system message after chat lines is set off by a blank line.
    A chat message without a name is labelled ``User`` / ``Assistant``.
    """

    name = "transcript"
    add_bos = True

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        check_role(reply_role, REPLY_ROLES)
        parts: list[str] = []
        after_line = False  # the last thing written was a chat line
        for message in messages:
            check_role(message.role)
            content = message.content.strip()
            if not content:
                continue
            if message.role == "system":
                parts.append(("\n" if after_line else "") + content + "\n\n")
                after_line = False
            else:
                name = clean_name(message.name) or DEFAULT_NAMES[message.role]
                parts.append(f"{name}: {content}\n")
                after_line = True
        if reply_name is not None:
            name = clean_name(reply_name) or DEFAULT_NAMES[reply_role]
            parts.append(f"{name}:")
        return "".join(parts)

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return dedupe(name_stops(reply_name, other_names))


@dataclass(frozen=True)
class _TurnStyle:
    """The markers of one turn-based layout."""

    start: str  # written once at the very beginning
    kinds: Mapping[str, str]  # message role -> turn kind (gemma: assistant -> model)
    opens: Mapping[str, str]  # turn kind -> text that opens a turn
    closes: Mapping[str, str]  # turn kind -> text that ends a turn
    stops: tuple[str, ...]  # end-of-turn marker strings
    add_bos: bool


def _same_kinds() -> dict[str, str]:
    return {role: role for role in ROLES}


STYLES: dict[str, _TurnStyle] = {
    "chatml": _TurnStyle(
        start="",
        kinds=_same_kinds(),
        opens={k: f"<|im_start|>{k}\n" for k in ROLES},
        closes={k: "<|im_end|>\n" for k in ROLES},
        stops=("<|im_end|>", "<|im_start|>"),
        add_bos=True,
    ),
    "llama3": _TurnStyle(
        start="<|begin_of_text|>",
        kinds=_same_kinds(),
        opens={k: f"<|start_header_id|>{k}<|end_header_id|>\n\n" for k in ROLES},
        closes={k: "<|eot_id|>" for k in ROLES},
        stops=("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"),
        add_bos=False,
    ),
    # Mistral has no system role: system text joins the user turn it sits in
    # (usually the first), which keeps the layout prefix-stable.
    "mistral": _TurnStyle(
        start="",
        kinds={"system": "user", "user": "user", "assistant": "assistant"},
        opens={"user": "[INST] ", "assistant": " "},
        closes={"user": " [/INST]", "assistant": "</s>"},
        stops=("</s>", "[INST]", "[/INST]"),
        add_bos=True,
    ),
    # Gemma has no system role either, and calls the assistant "model".
    "gemma": _TurnStyle(
        start="",
        kinds={"system": "user", "user": "user", "assistant": "model"},
        opens={k: f"<start_of_turn>{k}\n" for k in ("user", "model")},
        closes={k: "<end_of_turn>\n" for k in ("user", "model")},
        stops=("<end_of_turn>", "<start_of_turn>"),
        add_bos=True,
    ),
    "alpaca": _TurnStyle(
        start="",
        kinds=_same_kinds(),
        opens={
            "system": "",
            "user": "### Instruction:\n",
            "assistant": "### Response:\n",
        },
        closes={k: "\n\n" for k in ROLES},
        stops=("### Instruction:", "### Response:"),
        add_bos=True,
    ),
}


class PresetFormat:
    """A turn-based instruct layout written out by us (chatml, llama3, ...).

    Consecutive messages that land in the same kind of turn are merged into
    one turn, joined by a blank line. The last turn is left open when there is
    no generation prompt (see the module docstring), so renders stay
    prefix-stable. The generation prompt continues the open turn when the
    reply belongs to the same side, else closes it and opens the reply's turn.
    """

    def __init__(self, name: str, style: _TurnStyle) -> None:
        self.name = name
        self.add_bos = style.add_bos
        self._style = style

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        check_role(reply_role, REPLY_ROLES)
        style = self._style
        parts = [style.start]
        open_kind: str | None = None

        def add(kind: str, text: str) -> None:
            nonlocal open_kind
            if kind == open_kind:
                parts.append(JOINER + text)
                return
            if open_kind is not None:
                parts.append(style.closes[open_kind])
            parts.append(style.opens[kind] + text)
            open_kind = kind

        for message in messages:
            body = message_body(message)
            if body:
                add(style.kinds[message.role], body)
        if reply_name is not None:
            add(style.kinds[reply_role], reply_prefix(reply_name))
        return "".join(parts)

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return dedupe([*self._style.stops, *name_stops(reply_name, other_names)])
