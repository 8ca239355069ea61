"""Tests for tui.core.prompt.formats: exact layouts, prefix stability, stops, sandboxed templates."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tui.core.prompt.formats import (
    FIXED_DATE,
    FORMAT_NAMES,
    PRESETS,
    ChatFormat,
    FormatError,
    PromptMessage,
    choose_format,
    get_format,
)

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


# --------------------------------------------------------------------------- embedded

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Rejects the system role and non-alternating turns, like many instruct templates.
STRICT_TEMPLATE = """{{- bos_token -}}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}
        {{- raise_exception('System role not supported') -}}
    {%- endif -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant') -}}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{- '[INST] ' + message['content'] | trim + ' [/INST]' -}}
    {%- else -%}
        {{- ' ' + message['content'] | trim + eos_token -}}
    {%- endif -%}
{%- endfor -%}
"""

# Writes BOS itself and asks for today's date.
DATED_TEMPLATE = """{{- bos_token -}}
<|start_header_id|>system<|end_header_id|>

Today: {{ strftime_now('%d %B %Y') }}
{% for message in messages %}
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' -}}
{{- message['content'] + '<|eot_id|>' -}}
{% endfor %}
{% if add_generation_prompt %}
{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
{% endif %}
"""


def embedded(template: str) -> ChatFormat:
    return get_format("embedded", chat_template=template, bos_token="<s>", eos_token="</s>")


def test_embedded_chatml_like_template() -> None:
    fmt = embedded(CHATML_TEMPLATE)
    assert fmt.add_bos is True
    assert fmt.render(CONVERSATION, "Alice") == PRESET_EXPECTED["chatml"]
    assert fmt.render(CONVERSATION, None) == PRESET_EXPECTED["chatml"].removesuffix(
        "<|im_start|>assistant\nAlice:"
    )
    stops = fmt.stop_strings("Alice", ["Alice", "Bob", "Carol"])
    assert stops[:2] == ["</s>", "<|im_end|>"]
    assert "\nBob:" in stops and "\nCarol:" in stops and "\nAlice:" not in stops


def test_embedded_merges_same_role_and_continues_the_open_turn() -> None:
    fmt = embedded(CHATML_TEMPLATE)
    messages = [BOB_1, PromptMessage("user", "Carol", "Hi."), ALICE_1]
    assert fmt.render(messages, "Dana") == (
        "<|im_start|>user\nBob: Hello there.\n\nCarol: Hi.<|im_end|>\n"
        "<|im_start|>assistant\nAlice: Good evening.\n\nDana:"
    )
    assert fmt.render(messages, "Bob", reply_role="user").endswith(
        "Alice: Good evening.<|im_end|>\n<|im_start|>user\nBob:"
    )


def test_embedded_folds_system_when_the_template_rejects_it() -> None:
    fmt = embedded(STRICT_TEMPLATE)
    assert fmt.add_bos is False  # the template writes <s> itself
    assert fmt.render(CONVERSATION, "Alice") == (
        f"<s>[INST] {S}\n\nBob: Hello there. [/INST] Alice: Good evening.</s>"
        "[INST] Bob: Any news from the harbour? [/INST] Alice:"
    )
    # A later system note is folded into the user turn around it.
    note = PromptMessage("system", "", "Keep it brief.")
    assert fmt.render([*CONVERSATION, note], None).endswith(
        "[INST] Bob: Any news from the harbour?\n\nKeep it brief. [/INST]"
    )
    # A conversation opening with the character's greeting still renders.
    greeting = PromptMessage("assistant", "Alice", "Welcome aboard.")
    assert fmt.render([greeting, BOB_1], "Alice").endswith(
        " Alice: Welcome aboard.</s>[INST] Bob: Hello there. [/INST] Alice:"
    )
    assert fmt.render([SYSTEM, greeting], "Bob", reply_role="user") == (
        f"<s>[INST] {S} [/INST] Alice: Welcome aboard.</s>[INST] Bob:"
    )


def test_embedded_falls_back_to_generation_prompt() -> None:
    template = (
        "{% if messages[-1]['role'] == 'assistant' %}"
        "{{ raise_exception('The last message must come from the user') }}{% endif %}"
        + CHATML_TEMPLATE
    )
    fmt = embedded(template)
    assert fmt.render(CONVERSATION, "Alice") == PRESET_EXPECTED["chatml"]
    with pytest.raises(FormatError, match="last message must come from the user"):
        fmt.render([BOB_1, ALICE_1], "Dana")


def test_embedded_date_is_fixed_and_bos_detected() -> None:
    fmt = embedded(DATED_TEMPLATE)
    first = fmt.render(CONVERSATION, "Alice")
    assert first.startswith("<s><|start_header_id|>system")
    assert f"Today: {FIXED_DATE.strftime('%d %B %Y')}\n" in first
    assert fmt.render(CONVERSATION, "Alice") == first
    assert fmt.add_bos is False
    assert "<|eot_id|>" in fmt.stop_strings("Alice", ["Bob"])


def test_embedded_generation_block_tag() -> None:
    template = (
        "{% for m in messages %}{{ m['role'] }}: "
        "{% generation %}{{ m['content'] }}{% endgeneration %}\n{% endfor %}"
    )
    # trim_blocks (as in HF transformers) eats the newline after a block tag.
    assert embedded(template).render([BOB_1, ALICE_1], None) == (
        "user: Bob: Hello there.assistant: Alice: Good evening."
    )


def test_embedded_template_error_during_render() -> None:
    template = (
        "{% if messages | length > 3 %}{{ raise_exception('Too many turns for this model') }}"
        "{% endif %}" + CHATML_TEMPLATE
    )
    fmt = embedded(template)
    assert fmt.render(CONVERSATION[:2], "Alice").endswith("assistant\nAlice:")
    with pytest.raises(FormatError, match="Too many turns for this model") as info:
        fmt.render([*CONVERSATION, ALICE_1], None)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "template",
    [
        "{% for message in messages %}{{ message['content'] }}",
        "{{ messages[0]['content'] }",
        "{% if %}{% endif %}",
    ],
)
def test_embedded_syntax_error(template: str) -> None:
    with pytest.raises(FormatError, match="syntax error"):
        embedded(template)


def test_embedded_template_that_always_raises() -> None:
    with pytest.raises(FormatError, match="rejected the conversation: This model does not chat"):
        embedded("{{ raise_exception('This model does not chat') }}")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages[0].__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}",
        "{{ self.__init__.__globals__.__builtins__.open('{marker}', 'w') }}",
        "{{ lipsum.__globals__['os'].system('touch {marker}') }}",
        "{{ ('a' | attr('__class__')).__subclasses__() }}",
        "{{ '{0.__class__.__mro__}'.format('') }}",
        "{% set x = messages.append({'role': 'user', 'content': 'x'}) %}{{ messages }}",
        "{{ 'x' * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ range(10 ** 9) | list }}",
    ],
)
def test_embedded_malicious_template_is_contained(template: str, tmp_path: Path) -> None:
    marker = tmp_path / "escaped"
    template = template.replace("{marker}", str(marker))
    try:
        fmt = embedded(template)
        text = fmt.render(CONVERSATION, "Alice")
    except FormatError as exc:
        assert "\n" not in str(exc)
    else:
        assert "<class" not in text and "object" not in text
        assert len(text) < 10_000
    assert not marker.exists()


def test_embedded_needs_a_template() -> None:
    for template in (None, "", "   \n"):
        with pytest.raises(FormatError, match="needs the model's chat template"):
            get_format("embedded", chat_template=template)


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
