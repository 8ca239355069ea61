"""Untrusted text for widgets: always literal, never markup.

Card, chat, persona, profile, idea and model text is full of square
brackets (W++/PList descriptions such as ``[Name's Personality= "kind"]``,
names such as ``[/INST] Lyra``). Textual reads a plain ``str`` as content
markup in many places (``Option`` and ``Selection`` prompts, border titles,
tooltips, ``Static`` unless ``markup=False``, notifications unless
``markup=False``), where such text raises ``MarkupError``, loses its
brackets, or becomes a ``[@click=...]`` action.

Give those widgets :func:`literal` text instead: a ``Content`` that is
exactly the text, with terminal control characters made visible
(:func:`tui.core.safe_text.neutralize`). Strings that are ours alone (fixed
labels and hints) may stay plain ``str``.
"""

from __future__ import annotations

from textual.content import Content

from tui.core import neutralize


def literal(text: object) -> Content:
    """``text`` as shown, character for character: no markup, no escapes."""
    return Content(neutralize(str(text)))
