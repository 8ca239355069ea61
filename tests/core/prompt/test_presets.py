"""Tests for tui.core.prompt.presets: exact transcript and preset layouts."""

from __future__ import annotations

import pytest
from format_cases import ALICE_1, CONVERSATION, PREFIX_STABLE, PRESET_EXPECTED, SYSTEM, S

from tui.core.prompt.formats import (
    FORMAT_NAMES,
    PromptMessage,
    get_format,
)
from tui.core.prompt.presets import PRESETS

# --------------------------------------------------------------------------- transcript


def test_transcript_exact_layout() -> None:
    fmt = get_format("transcript")
    assert fmt.render(CONVERSATION, "Alice") == (
        f"{S}\n\n"
        "Bob: Hello there.\n"
        "Alice: Good evening.\n"
        "Bob: Any news from the harbour?\n"
        "Alice:"
    )
    assert fmt.add_bos is True


def test_transcript_paragraphs_names_and_no_trailing_space() -> None:
    fmt = get_format("transcript")
    messages = [
        PromptMessage("system", "", "  The lighthouse keeper is an adult.  "),
        PromptMessage("system", "", "Scene: a foggy pier."),
        PromptMessage("user", "", "Hi."),
        PromptMessage("assistant", " Mira\nLynn ", "Hello."),
        PromptMessage("system", "", "The fog lifts."),
        PromptMessage("user", "Bob", "Look!"),
    ]
    text = fmt.render(messages, "Mira Lynn")
    assert text == (
        "The lighthouse keeper is an adult.\n\n"
        "Scene: a foggy pier.\n\n"
        "User: Hi.\n"
        "Mira Lynn: Hello.\n"
        "\nThe fog lifts.\n\n"
        "Bob: Look!\n"
        "Mira Lynn:"
    )
    assert not text.endswith(" ")
    assert fmt.render(messages[:1], None) == "The lighthouse keeper is an adult.\n\n"
    assert fmt.render([], "Mira") == "Mira:"


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", PRESETS)
def test_preset_exact_layout(name: str) -> None:
    assert get_format(name).render(CONVERSATION, "Alice") == PRESET_EXPECTED[name]


def test_presets_cover_every_listed_name() -> None:
    assert set(PRESET_EXPECTED) == set(PRESETS)
    assert set(FORMAT_NAMES) == {"transcript", "embedded", *PRESETS}


def test_bos_handling() -> None:
    assert get_format("llama3").add_bos is False
    assert get_format("llama3").render([], None) == "<|begin_of_text|>"
    for name in ("chatml", "mistral", "gemma", "alpaca"):
        fmt = get_format(name)
        assert fmt.add_bos is True
        assert "<bos>" not in fmt.render(CONVERSATION, "Alice")
        assert not fmt.render(CONVERSATION, "Alice").startswith("<s>")


def test_mistral_merges_same_side_and_keeps_system_in_user_turn() -> None:
    fmt = get_format("mistral")
    messages = [
        SYSTEM,
        PromptMessage("assistant", "Alice", "Welcome aboard."),
        PromptMessage("user", "Bob", "Thanks."),
        PromptMessage("user", "Carol", "Where to?"),
        PromptMessage("system", "", "Keep replies short."),
    ]
    assert fmt.render(messages, "Alice") == (
        f"[INST] {S} [/INST] Alice: Welcome aboard.</s>"
        "[INST] Bob: Thanks.\n\nCarol: Where to?\n\nKeep replies short. [/INST] Alice:"
    )
    # Another assistant-side character continues the open model turn.
    assert fmt.render(messages[:2], "Dana") == (
        f"[INST] {S} [/INST] Alice: Welcome aboard.\n\nDana:"
    )
    # Speaking as the user opens a user turn.
    assert fmt.render(messages[:2], "Bob", reply_role="user") == (
        f"[INST] {S} [/INST] Alice: Welcome aboard.</s>[INST] Bob:"
    )


def test_gemma_folds_system_and_uses_model_role() -> None:
    fmt = get_format("gemma")
    messages = [SYSTEM, PromptMessage("assistant", "Alice", "Welcome aboard.")]
    assert fmt.render(messages, "Bob", reply_role="user") == (
        f"<start_of_turn>user\n{S}<end_of_turn>\n"
        "<start_of_turn>model\nAlice: Welcome aboard.<end_of_turn>\n"
        "<start_of_turn>user\nBob:"
    )
    assert "system" not in fmt.render(CONVERSATION, "Alice")


def test_empty_messages_are_skipped() -> None:
    blank = PromptMessage("user", "Bob", "   ")
    for name in PREFIX_STABLE:
        fmt = get_format(name)
        assert fmt.render([SYSTEM, blank, ALICE_1], "Alice") == fmt.render(
            [SYSTEM, ALICE_1], "Alice"
        )
