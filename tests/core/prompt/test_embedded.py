"""Tests for tui.core.prompt.embedded: GGUF chat templates rendered in a sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from format_cases import ALICE_1, BOB_1, CHATML_TEMPLATE, CONVERSATION, PRESET_EXPECTED, SYSTEM, S

from tui.core.prompt.embedded import FIXED_DATE
from tui.core.prompt.formats import (
    ChatFormat,
    FormatError,
    PromptMessage,
    get_format,
)

# --------------------------------------------------------------------------- embedded

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
