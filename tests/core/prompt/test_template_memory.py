"""A hostile GGUF chat template cannot exhaust memory: every way a template
grows text is bounded, and it fails with one clear line (run under a 1.5 GB
address-space limit, so a regression fails here instead of swapping the machine)."""

from __future__ import annotations

import json
import subprocess
import sys

HOSTILE = {
    "doubling with ~": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}{{ ns.s }}",
    "doubling with +": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                       "{% endfor %}{{ ns.s }}",
    "percent width": "{{ '%0999999999d' % 1 }}",
    "percent star": "{{ '%*d' % (999999999, 1) }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "center method": "{{ 'x'.center(10**9) }}",
    "center filter": "{{ 'x'|center(1000000000) }}",
    "ljust": "{{ 'x'.ljust(999999999) }}",
    "replace growth": "{% set ns = namespace(s='aaaa') %}{% for i in range(20) %}"
                      "{% set ns.s = ns.s.replace('a', 'aaaa') %}{% endfor %}{{ ns.s }}",
    "join growth": "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(30) %}"
                   "{% set ns.s = [ns.s, ns.s]|join %}{% endfor %}{{ ns.s }}",
    "huge output": "{% for i in range(100000) %}{{ 'y' * 1000000 }}{% endfor %}",
}

CODE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from tui.core.prompt.embedded import EmbeddedFormat
from tui.core.prompt.chat_format import FormatError
out = {}
for name, t in json.loads(sys.stdin.read()).items():
    try:
        EmbeddedFormat(t)
        out[name] = "rendered"
    except FormatError as e:
        out[name] = str(e)
    except MemoryError:
        out[name] = "MemoryError"
print(json.dumps(out))
"""


def test_hostile_templates_are_stopped_before_they_allocate():
    run = subprocess.run([sys.executable, "-c", CODE], input=json.dumps(HOSTILE), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    for name, message in results.items():
        assert "tried an unsafe operation and was stopped" in message, (name, message)
        assert "too long" in message or "too large" in message, (name, message)
        assert "\n" not in message


def test_ordinary_templates_still_render_long_prompts():
    from tui.core.prompt.chat_format import PromptMessage
    from tui.core.prompt.embedded import EmbeddedFormat

    fmt = EmbeddedFormat(
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    long = "word " * 200_000  # a million characters: a full large context
    text = fmt.render([PromptMessage("user", "", long), PromptMessage("assistant", "", "ok")], reply_name="")
    assert long.strip() in text and "<|assistant|>ok" in text
