"""Prompt messages and expected renders shared by the chat-format tests."""

from __future__ import annotations

from tui.core.prompt.formats import (
    PromptMessage,
)
from tui.core.prompt.presets import PRESETS

SYSTEM = PromptMessage("system", "", "You narrate a quiet mystery in a seaside town.")
BOB_1 = PromptMessage("user", "Bob", "Hello there.")
ALICE_1 = PromptMessage("assistant", "Alice", "Good evening.")
BOB_2 = PromptMessage("user", "Bob", "Any news from the harbour?")
CONVERSATION = [SYSTEM, BOB_1, ALICE_1, BOB_2]

S = SYSTEM.content

PRESET_EXPECTED = {
    "chatml": (
        f"<|im_start|>system\n{S}<|im_end|>\n"
        "<|im_start|>user\nBob: Hello there.<|im_end|>\n"
        "<|im_start|>assistant\nAlice: Good evening.<|im_end|>\n"
        "<|im_start|>user\nBob: Any news from the harbour?<|im_end|>\n"
        "<|im_start|>assistant\nAlice:"
    ),
    "llama3": (
        "<|begin_of_text|>"
        f"<|start_header_id|>system<|end_header_id|>\n\n{S}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBob: Hello there.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nAlice: Good evening.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nBob: Any news from the harbour?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nAlice:"
    ),
    "mistral": (
        f"[INST] {S}\n\nBob: Hello there. [/INST] Alice: Good evening.</s>"
        "[INST] Bob: Any news from the harbour? [/INST] Alice:"
    ),
    "gemma": (
        f"<start_of_turn>user\n{S}\n\nBob: Hello there.<end_of_turn>\n"
        "<start_of_turn>model\nAlice: Good evening.<end_of_turn>\n"
        "<start_of_turn>user\nBob: Any news from the harbour?<end_of_turn>\n"
        "<start_of_turn>model\nAlice:"
    ),
    "alpaca": (
        f"{S}\n\n"
        "### Instruction:\nBob: Hello there.\n\n"
        "### Response:\nAlice: Good evening.\n\n"
        "### Instruction:\nBob: Any news from the harbour?\n\n"
        "### Response:\nAlice:"
    ),
}

PREFIX_STABLE = ("transcript", *PRESETS)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
