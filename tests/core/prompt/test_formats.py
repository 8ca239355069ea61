"""Tests for tui.core.prompt.formats: every format's prefix stability and stops, choosing a format."""

from __future__ import annotations

import itertools

import pytest
from format_cases import BOB_1, CHATML_TEMPLATE, PREFIX_STABLE

from tui.core.prompt.formats import (
    FORMAT_NAMES,
    FormatError,
    PromptMessage,
    choose_format,
    get_format,
)
from tui.core.prompt.presets import PRESETS

# --------------------------------------------------------------------------- prefix stability


def _conversations() -> list[list[PromptMessage]]:
    """Every role sequence up to length 5, speakers varying by position."""
    names = {"user": ("Bob", "Carol"), "assistant": ("Alice", "Dana"), "system": ("", "")}
    out = []
    for length in range(1, 6):
        for roles in itertools.product(("system", "user", "assistant"), repeat=length):
            out.append(
                [
                    PromptMessage(role, names[role][i % 2], f"Line {i} from a {role}.")
                    for i, role in enumerate(roles)
                ]
            )
    return out


CONVERSATIONS = _conversations()


@pytest.mark.parametrize("name", PREFIX_STABLE)
def test_render_is_prefix_stable(name: str) -> None:
    fmt = get_format(name)
    for messages in CONVERSATIONS:
        for k in range(len(messages)):
            shorter = fmt.render(messages[:k], None)
            longer = fmt.render(messages[: k + 1], None)
            assert longer.startswith(shorter), (name, messages[: k + 1])
            assert len(longer) > len(shorter)
            for role, speaker in (("assistant", "Alice"), ("user", "Bob")):
                prompt = fmt.render(messages[:k], speaker, reply_role=role)
                assert prompt.startswith(shorter)
                assert prompt.endswith(f"{speaker}:")


@pytest.mark.parametrize("name", PREFIX_STABLE)
def test_generation_prompt_is_prefix_of_the_finished_reply(name: str) -> None:
    fmt = get_format(name)
    for messages in CONVERSATIONS:
        for role, speaker in (("assistant", "Alice"), ("assistant", "Dana"), ("user", "Bob")):
            prompt = fmt.render(messages, speaker, reply_role=role)
            reply = PromptMessage(role, speaker, "A short answer.")
            assert fmt.render([*messages, reply], None).startswith(prompt + " A short answer.")


# --------------------------------------------------------------------------- stop strings


@pytest.mark.parametrize("name", PREFIX_STABLE)
def test_stop_strings_cover_every_other_name(name: str) -> None:
    fmt = get_format(name)
    stops = fmt.stop_strings("Alice", ["Alice", "Bob", " Carol ", "Bob", "", "Dana Rivers"])
    assert "\nBob:" in stops
    assert "\nCarol:" in stops
    assert "\nDana Rivers:" in stops
    assert "\nAlice:" not in stops
    assert stops.count("\nBob:") == 1
    assert "" not in stops
    assert all("Alice" not in s for s in stops)


def test_stop_strings_include_end_of_turn_markers() -> None:
    expected = {
        "transcript": [],
        "chatml": ["<|im_end|>"],
        "llama3": ["<|eot_id|>"],
        "mistral": ["</s>", "[INST]"],
        "gemma": ["<end_of_turn>"],
        "alpaca": ["### Instruction:"],
    }
    for name, markers in expected.items():
        stops = get_format(name).stop_strings("Alice", ["Bob"])
        for marker in markers:
            assert marker in stops, (name, marker)
    assert get_format("transcript").stop_strings("Alice", ["Bob"]) == ["\nBob:"]


# --------------------------------------------------------------------------- choosing


def test_choose_format_auto() -> None:
    template = CHATML_TEMPLATE
    assert choose_format("auto", chat_template=template, is_default_model=True) == "transcript"
    assert choose_format("auto", chat_template=None, is_default_model=True) == "transcript"
    assert choose_format("auto", chat_template=template, is_default_model=False) == "embedded"
    assert choose_format("auto", chat_template=None, is_default_model=False) == "transcript"
    assert choose_format("auto", chat_template="  ", is_default_model=False) == "transcript"
    assert choose_format(" AUTO ", chat_template=None, is_default_model=False) == "transcript"


def test_choose_format_explicit_names() -> None:
    for name in PRESETS + ("transcript",):
        assert choose_format(name, chat_template=None, is_default_model=True) == name
    assert choose_format("ChatML", chat_template=None, is_default_model=False) == "chatml"
    chosen = choose_format("embedded", chat_template=CHATML_TEMPLATE, is_default_model=True)
    assert chosen == "embedded"
    with pytest.raises(FormatError, match="needs the model's chat template"):
        choose_format("embedded", chat_template=None, is_default_model=False)
    with pytest.raises(FormatError) as info:
        choose_format("vicuna", chat_template=None, is_default_model=False)
    for name in ("auto", *FORMAT_NAMES):
        assert name in str(info.value)


def test_get_format_unknown_lists_valid_names() -> None:
    with pytest.raises(FormatError) as info:
        get_format("vicuna")
    message = str(info.value)
    assert "'vicuna'" in message
    for name in FORMAT_NAMES:
        assert name in message
    with pytest.raises(FormatError):
        get_format("auto")
    assert get_format(" Gemma ").name == "gemma"
    assert get_format("transcript").name == "transcript"


def test_bad_roles_are_format_errors() -> None:
    for name in PREFIX_STABLE:
        fmt = get_format(name)
        with pytest.raises(FormatError, match="unknown message role 'narrator'"):
            fmt.render([PromptMessage("narrator", "", "Hi.")], None)
        with pytest.raises(FormatError, match="unknown message role 'system'"):
            fmt.render([BOB_1], "Alice", reply_role="system")
