"""Prompt assembly with exact token budgets, laid out to keep the KV cache warm.

Order (see DESIGN.md), most stable first:

1. ``system``   preamble, the card, the persona        (changes almost never)
2. ``examples`` the card's example dialogue             (dropped first when tight)
3. ``memory``   summary and facts (tui.core.memory.document)     (changes once per fold)
4. ``window``   the chat since the cut                  (grows by appending)
5. ``volatile`` triggered lore, post-history instructions (small, near the end)
6. ``reply``    the reply prefix ("Name:")

The caller passes only the messages not yet folded into memory. The chunked
cut below is the last resort when even those do not fit (a fold is late or
failed); ``Prompt.window_start`` then says how many were left out.

When the chat outgrows its budget we never drop one message per turn (that
changes the prefix every turn and forces a full re-evaluation). The cut moves
by whole chunks of ``chunk`` messages, so the prefix changes once per chunk.
The cut is derived from the messages alone, so the same chat always gives the
same prompt.

Token counts are exact: each section's count is the difference between the
token lengths of successive rendered prefixes, tokenized by the model.

Group scenes (``build_scene``): every character's card is written once, in
chat order, in the stable system part, with every persona's description and
the union of their boundaries, so the system part is the same whoever speaks
and the KV cache stays warm when the speaker changes. Only the small volatile
part names the speaker ("Write the next reply only as X."), and the reply
prefix is the speaker's name. Stops hold ``"\nName:"`` for every other
participant: the human personas, the other characters and the narrator.
Macros in a scene: in the preamble ``{{user}}`` is every persona ("Alex and
Sam") and ``{{char}}`` every character; in the cards, lore, examples and
memory ``{{user}}`` is the chat's first persona (cards are written for one
person; the stable part must not change with who is typing); in the
volatile part it is the persona who is typing.

Out-of-character lines (``tui.core.scene.rules.is_ooc``) typed by the people are
left out of every prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from tui.core import templates
from tui.core.cards.macros import expand
from tui.core.lore.activate import LoreResult, activate
from tui.core.lore.book import Lorebook
from tui.core.prompt.formats import ChatFormat, PromptMessage
from tui.core.prompt.parts import (
    CharacterText,
    Prompt,
    PromptTooLong,
    SceneText,
    Section,
    Tokenize,
    Turn,
    join_names,
)
from tui.core.scene.rules import is_ooc, speaker_instruction, stop_names

GROUP_SYSTEM = (
    "This is an ongoing piece of collaborative fiction. The people at the keyboard play "
    "{{user}}; the characters are {{char}}. Each reply is written by exactly one "
    "participant, named at the end: stay in character, keep it vivid and concise, and "
    "never write lines, actions or thoughts for {{user}} or for anyone else."
)

NARRATOR_TEXT = (
    "The narrator ({name}) describes the setting and what happens, and never speaks, "
    "acts or decides for any person or character."
)


def default_system_text() -> str:
    """The built-in preamble, ``prompts/system.txt``."""
    return templates.load("system").strip()


def example_dialogue(mes_example: str) -> str:
    """Turn ``<START>`` blocks into plain example lines."""
    blocks = [b.strip() for b in mes_example.replace("\r\n", "\n").split("<START>")]
    return "\n\n".join(b for b in blocks if b)


def story_turns(turns: Sequence[Turn]) -> list[Turn]:
    """``turns`` without the people's out-of-character lines."""
    return [t for t in turns if not (t.role == "user" and is_ooc(t.text))]


def _lore_texts(lore: LoreResult, x: Callable[[str], str]) -> tuple[str, str, str]:
    """Activated lore as (constant before the card, constant after it,
    triggered). Constant entries never change, so they sit in the stable
    part; triggered ones change with the chat and go in the volatile part."""

    def text(constant: bool, position: str) -> str:
        return "\n".join(
            x(a.text) for a in lore.activated
            if a.entry.constant == constant and a.position == position and a.text
        )

    triggered = "\n".join(t for t in (text(False, "before_char"), text(False, "after_char")) if t)
    return text(True, "before_char"), text(True, "after_char"), triggered


def _system_msgs(text: str) -> list[PromptMessage]:
    """One system message holding ``text``, or none when it is empty."""
    return [PromptMessage("system", "", text)] if text else []


def _card_lines(character: CharacterText, x: Callable[[str], str]) -> list[str]:
    lines = []
    if character.description:
        lines.append(x(character.description))
    if character.personality:
        lines.append(f"{character.name}'s personality: {x(character.personality)}")
    if character.scenario:
        lines.append(f"Scenario: {x(character.scenario)}")
    return lines


def _expand_with(values: dict[str, str], text: str) -> str:
    return expand(text, values)


@dataclass
class PromptBuilder:
    fmt: ChatFormat
    tokenize: Tokenize
    n_ctx: int
    reply_reserve: int
    system_text: str = ""
    chunk: int = 8
    group_system_text: str = ""   # the preamble of group scenes ("" = GROUP_SYSTEM)
    # cached per-text token counts (tui.core.storage.token_counts): they guide the
    # search for the window's cut, which the exact count then confirms
    count_text: Callable[[str], int] | None = None
    # untrusted text (messages, cards, personas, lore, names) passes through this
    # before the template places it, so it never becomes a control token
    # (tui.core.engine.literal); identity when None
    literal: Callable[[str], str] | None = None

    def _count(self, text: str) -> int:
        return len(self.tokenize(text, add_bos=False))

    def _render(self, msgs: Sequence[PromptMessage], reply: str | None) -> str:
        x = self.literal
        if x is None:
            return self.fmt.render(msgs, reply)
        safe = [PromptMessage(m.role, x(m.name), x(m.content)) for m in msgs]
        return self.fmt.render(safe, None if reply is None else x(reply))

    def build(
        self,
        character: CharacterText,
        user_name: str,
        user_description: str,
        turns: Sequence[Turn],
        other_names: Sequence[str] = (),
        books: Sequence[Lorebook] = (),
        memory_text: str = "",
        *,
        boundaries: str = "",
        directions: Sequence[str] = (),
    ) -> Prompt:
        """The prompt for ``character``'s next reply in a one-to-one chat.

        ``boundaries`` (the persona's limits as text) joins the stable part;
        ``directions`` (scene instructions for this reply) the volatile part.
        Both empty: the prompt is exactly what it was before scenes existed.
        """
        values = {"char": character.name, "user": user_name}
        x = lambda s: expand(s, values)  # noqa: E731
        turns = story_turns(turns)

        # Lorebooks: constant entries never change, so they sit in the stable
        # part at their position around the card (cache-friendly and as the
        # author placed them); entries triggered by keys change with the chat
        # and go in the small volatile part near the end.
        lore = self._lore(books, turns, values)
        lore_before, lore_after, lore_triggered = _lore_texts(lore, x)

        system_parts = []
        preamble = self.system_text or default_system_text()
        if character.system_prompt:
            preamble = expand(character.system_prompt, {**values, "original": preamble})
        system_parts.append(x(preamble))
        if lore_before:
            system_parts.append(lore_before)
        card_lines = _card_lines(character, x)
        if card_lines:
            system_parts.append("\n".join(card_lines))
        if lore_after:
            system_parts.append(lore_after)
        if user_description:
            system_parts.append(f"About {user_name}: {x(user_description)}")
        if boundaries.strip():
            system_parts.append(boundaries.strip())
        system_msg = PromptMessage("system", "", "\n\n".join(system_parts))

        examples = example_dialogue(x(character.mes_example)) if character.mes_example else ""
        example_msgs = _system_msgs(f"Example dialogue:\n{examples}" if examples else "")
        memory_msgs = _system_msgs(x(memory_text.strip()) if memory_text.strip() else "")
        volatile_msgs = _system_msgs(lore_triggered)
        if character.post_history_instructions:
            volatile_msgs.append(
                PromptMessage("system", "", x(character.post_history_instructions))
            )
        volatile_msgs += [PromptMessage("system", "", d.strip()) for d in directions if d.strip()]
        window = [PromptMessage(t.role, t.speaker, t.text) for t in turns]
        reply = character.name
        others = [n for n in dict.fromkeys([user_name, *other_names]) if n != reply]
        stop = self.fmt.stop_strings(reply, others)
        return self._fit(system_msg, example_msgs, memory_msgs, window, volatile_msgs, reply, stop, lore.warnings)

    def build_scene(
        self,
        scene: SceneText,
        turns: Sequence[Turn],
        other_names: Sequence[str] = (),
        books: Sequence[Lorebook] = (),
        memory_text: str = "",
    ) -> Prompt:
        """The prompt for ``scene.speaker``'s next reply in a group scene.

        Everything before the window is the same whoever speaks (see the
        module docstring); ``other_names`` are further names whose lines
        must stop the reply (past speakers no longer in the scene).
        """
        if not scene.characters and not scene.narrator:
            raise ValueError("a scene needs a character or a narrator")
        char_names = [c.name for c in scene.characters]
        persona_names = [p.name for p in scene.personas]
        first = persona_names[0] if persona_names else "User"
        cast = join_names(char_names) or scene.narrator
        values = {"char": cast, "user": first}
        x = lambda s: expand(s, values)  # noqa: E731
        turns = story_turns(turns)

        lore = self._lore(books, turns, values)
        lore_before, lore_after, lore_triggered = _lore_texts(lore, x)

        preamble = self.group_system_text or GROUP_SYSTEM
        system_parts = [expand(preamble, {"char": cast, "user": join_names(persona_names) or first})]
        if lore_before:
            system_parts.append(lore_before)
        for c in scene.characters:
            lines = _card_lines(c, partial(_expand_with, {"char": c.name, "user": first}))
            system_parts.append("\n".join([f"Character: {c.name}", *lines]))
        if scene.narrator:
            system_parts.append(NARRATOR_TEXT.format(name=scene.narrator))
        if lore_after:
            system_parts.append(lore_after)
        for p in scene.personas:
            if p.description.strip():
                system_parts.append(f"About {p.name}: {x(p.description.strip())}")
        if scene.boundaries.strip():
            system_parts.append(scene.boundaries.strip())
        system_msg = PromptMessage("system", "", "\n\n".join(system_parts))

        blocks = [
            example_dialogue(expand(c.mes_example, {"char": c.name, "user": first}))
            for c in scene.characters
            if c.mes_example
        ]
        examples = "\n\n".join(b for b in blocks if b)
        example_msgs = _system_msgs(f"Example dialogue:\n{examples}" if examples else "")
        memory_msgs = _system_msgs(x(memory_text.strip()) if memory_text.strip() else "")

        speaker = " ".join(scene.speaker.split())
        typing = scene.typing or first
        volatile_msgs = _system_msgs(lore_triggered)
        me = next((c for c in scene.characters if c.name == speaker), None)
        if me is not None and me.post_history_instructions:
            text = expand(me.post_history_instructions, {"char": me.name, "user": typing})
            volatile_msgs.append(PromptMessage("system", "", text))
        volatile_msgs += [PromptMessage("system", "", d.strip()) for d in scene.directions if d.strip()]
        volatile_msgs.append(PromptMessage("system", "", speaker_instruction(speaker)))

        window = [PromptMessage(t.role, t.speaker, t.text) for t in turns]
        others = stop_names(
            [*persona_names, *char_names, *([scene.narrator] if scene.narrator else []), *other_names],
            speaker,
        )
        stop = self.fmt.stop_strings(speaker, others)
        return self._fit(system_msg, example_msgs, memory_msgs, window, volatile_msgs, speaker, stop, lore.warnings)

    def _fit(
        self,
        system_msg: PromptMessage,
        example_msgs: list[PromptMessage],
        memory_msgs: list[PromptMessage],
        window: list[PromptMessage],
        volatile_msgs: list[PromptMessage],
        reply: str,
        stop: list[str],
        warnings: Sequence[str],
    ) -> Prompt:
        """Fit the parts into the budget (examples first, then whole chunks
        of the oldest messages) and render the prompt."""
        budget = self.n_ctx - self.reply_reserve

        def assemble(start: int, with_examples: bool) -> list[list[PromptMessage]]:
            return [
                [system_msg],
                example_msgs if with_examples else [],
                memory_msgs,
                window[start:],
                volatile_msgs,
            ]

        def count(parts: list[list[PromptMessage]]) -> int:
            flat = [m for p in parts for m in p]
            return len(self.tokenize(self._render(flat, reply), add_bos=self.fmt.add_bos))

        notes: list[str] = list(warnings)
        with_examples = bool(example_msgs)
        start = 0
        if count(assemble(0, with_examples)) > budget:
            if with_examples:
                with_examples = False
                notes.append("example dialogue left out to make room")
            if count(assemble(0, False)) > budget:
                start = self._cut(window, budget, lambda cut: count(assemble(cut, False)))
                if start:
                    notes.append(f"{start} oldest messages are outside the window")
        parts = assemble(start, with_examples)
        if count(parts) > budget:
            raise PromptTooLong(
                f"the card and the latest message need more than the {budget} tokens "
                f"available (n_ctx {self.n_ctx} minus {self.reply_reserve} for the reply); "
                "raise model.n_ctx or shorten the card"
            )
        return self._finish(parts, reply, stop, start, not with_examples and bool(example_msgs), budget, notes)

    def _cut(self, window: list[PromptMessage], budget: int, count: Callable[[int], int]) -> int:
        """The first chunk boundary from which the window fits ``budget``
        (keeping at least the last message), as if each boundary were tried
        in turn from the oldest: with ``count_text`` the cached counts of
        each message point at the likely boundary and exact counts only
        confirm it and its neighbour, so the cost is O(window), not
        O(window²)."""
        n = len(window)
        cuts: list[int] = []
        for cut in range(self.chunk, n + self.chunk, self.chunk):
            cut = min(cut, max(0, n - 1))
            if cut > (cuts[-1] if cuts else 0):
                cuts.append(cut)
        if not cuts:
            return max(0, n - 1)
        fits = lambda j: count(cuts[j]) <= budget  # noqa: E731
        j = 0
        if self.count_text is not None:
            # estimate: the prompt without the window plus each message's own count
            fixed = count(n)
            suffix = [0] * (n + 1)
            for i in range(n - 1, -1, -1):
                m = window[i]
                suffix[i] = suffix[i + 1] + self.count_text(f"{m.name}: {m.content}\n")
            j = next((k for k, c in enumerate(cuts) if fixed + suffix[c] <= budget), len(cuts) - 1)
            if fits(j):
                while j > 0 and fits(j - 1):
                    j -= 1
                return cuts[j]
            j += 1
        while j < len(cuts):
            if fits(j):
                return cuts[j]
            j += 1
        return max(0, n - 1)

    def _lore(self, books: Sequence[Lorebook], turns: Sequence[Turn], values: dict[str, str]) -> LoreResult:
        if not books:
            return LoreResult()
        return activate(
            books,
            [f"{t.speaker}: {t.text}" for t in turns],
            self.count_text or self._count,
            total_budget=max(64, self.n_ctx // 4),
            macros=values,
        )

    def _finish(
        self,
        parts: list[list[PromptMessage]],
        reply: str,
        stop: list[str],
        start: int,
        dropped: bool,
        budget: int,
        notes: list[str],
    ) -> Prompt:
        names = ["system", "examples", "memory", "window", "volatile"]
        text = self._render([m for p in parts for m in p], reply)
        tokens = self.tokenize(text, add_bos=self.fmt.add_bos)
        sections: list[Section] = []
        prev_text, prev_len = "", 0
        acc: list[PromptMessage] = []
        for name, part in zip(names, parts, strict=True):
            acc = acc + part
            if not part:
                continue
            sub = self._render(acc, None)
            if not text.startswith(sub):
                # a template that is not prefix-stable: count what we can
                sub = prev_text
            n = len(self.tokenize(sub, add_bos=self.fmt.add_bos)) if sub else 0
            sections.append(Section(name, sub[len(prev_text):], max(0, n - prev_len), prev_len))
            prev_text, prev_len = sub, n
        sections.append(Section("reply", text[len(prev_text):], len(tokens) - prev_len, prev_len))
        return Prompt(
            text=text,
            tokens=tokens,
            sections=sections,
            stop=stop,
            reply_name=reply,
            window_start=start,
            dropped_examples=dropped,
            budget=budget,
            notes=notes,
        )
