"""Untrusted text stays text: it can never become one of the model's control tokens.

The prompt is tokenized with special tokens parsed, so the template's own
markers (``<start_of_turn>``, ``<|im_start|>``) become the control tokens
the model was trained on. The same parsing would turn a typed or imported
``<end_of_turn>`` or ``<|im_start|>system`` inside a message, a card or a
lore entry into a real turn boundary: one partner could forge system text
around the other's limits. So every piece of untrusted text goes through
:func:`literal_for` before it is placed in a template: an occurrence of a
control token's text gets a WORD JOINER (U+2060) after its first character,
which the tokenizer cannot match as a control token, and which changes
nothing for text that holds none.

The control tokens come from the model's vocabulary (``ModelInfo.control_tokens``,
read at load). The match is one RE2 automaton over all of them (gemma 3 has
6,250), linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

JOINER = "\u2060"


def _same(text: str) -> str:
    return text


@lru_cache(maxsize=8)
def _literal(tokens: tuple[str, ...]) -> Callable[[str], str]:
    texts = sorted({t for t in tokens if len(t) > 1 and not t.isspace()}, key=len, reverse=True)
    if not texts:
        return _same
    import re2  # imported on first use

    options = re2.Options()
    options.max_mem = 64 << 20  # room for the automaton of a large vocabulary
    pattern = re2.compile("|".join(re.escape(t) for t in texts), options)

    def literal(text: str) -> str:
        if not text or pattern.search(text) is None:
            return text
        return pattern.sub(lambda m: m.group(0)[0] + JOINER + m.group(0)[1:], text)

    return literal


def literal_for(control_tokens: Sequence[str]) -> Callable[[str], str]:
    """A function that breaks every control token's text inside a text."""
    return _literal(tuple(control_tokens))
