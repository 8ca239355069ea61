"""How a chat builds its prompts: ``PromptAssembler`` picks the chat format
and builds the prompt for a history, one-to-one or as a group scene; the
format adapters shape the prompts that are not "the character's next reply".
See docs/ARCHITECTURE.md, "The chat turn"."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tui.core.cards.card import Card
from tui.core.cards.macros import expand
from tui.core.chat.scene_state import SceneState, story_messages
from tui.core.engine.api import Engine
from tui.core.engine.literal import literal_for
from tui.core.engine.model_files import is_default_model
from tui.core.lore.codec import books_from
from tui.core.memory.upkeep import ChatMemory
from tui.core.profile.workspace import CardEntry, Workspace
from tui.core.prompt.builder import PromptBuilder
from tui.core.prompt.formats import ChatFormat, PromptMessage, choose_format, get_format
from tui.core.prompt.parts import CharacterText, PersonaText, Prompt, SceneText, Turn
from tui.core.scene.rules import boundaries_text
from tui.core.storage.model import Message
from tui.core.storage.token_counts import counts_for


def character_text(entry: CardEntry) -> CharacterText:
    c = entry.card
    return CharacterText(
        name=c.display_name,
        description=c.description,
        personality=c.personality,
        scenario=c.scenario,
        mes_example=c.mes_example,
        system_prompt=c.system_prompt,
        post_history_instructions=c.post_history_instructions,
    )


def greeting_swipes(card: Card, persona_name: str) -> list[str]:
    """Every greeting of ``card`` (``first_mes`` first, then the alternate
    greetings), macros expanded, blanks and repeats dropped.

    A new chat may store these as the swipes of its first message; a Session
    offers them anyway while the greeting is the only message.
    """
    values = {"char": card.display_name, "user": persona_name}
    out: list[str] = []
    for greeting in (card.first_mes, *card.alternate_greetings):
        text = expand(greeting.strip(), values) if isinstance(greeting, str) else ""
        if text and text not in out:
            out.append(text)
    return out


def offer_greetings(msgs: list[Message], card: Card, persona_name: str) -> None:
    """A lone greeting carries the card's other greetings as its swipes
    (in memory; they are written the first time the greeting changes)."""
    if len(msgs) != 1:
        return
    m = msgs[0]
    if m.role != "assistant" or m.speaker != card.display_name or "swipes" in m.extra:
        return
    if not card.alternate_greetings:
        return
    others = [g for g in greeting_swipes(card, persona_name) if g != m.text]
    if not others:
        return
    current = {"status": m.status}
    m.extra["swipes"] = [m.text, *others]
    m.extra["swipe"] = 0
    m.extra["swipe_meta"] = [current, *({"status": "ok"} for _ in others)]


# --------------------------------------------------------------------------
# chat-format adapters for the prompts that are not "the character's next reply"


class ContinueFormat:
    """``fmt`` with the text being continued written after the reply prefix,
    so the prompt ends ``Name: <existing text>``."""

    def __init__(self, fmt: ChatFormat, existing: str, literal: Callable[[str], str] | None = None) -> None:
        self._fmt = fmt
        self._existing = literal(existing) if literal else existing
        self.name = fmt.name
        self.add_bos = fmt.add_bos

    def render(
        self, messages: Sequence[PromptMessage], reply_name: str | None, reply_role: str = "assistant"
    ) -> str:
        text = self._fmt.render(messages, reply_name, reply_role)
        return text if reply_name is None else f"{text} {self._existing}"

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return self._fmt.stop_strings(reply_name, other_names)


class PersonaFormat:
    """``fmt`` with the reply prefix of the user's persona (a user turn); the
    character's line becomes a stop."""

    def __init__(self, fmt: ChatFormat, persona: str, character: str) -> None:
        self._fmt = fmt
        self._persona = persona
        self._character = character
        self.name = fmt.name
        self.add_bos = fmt.add_bos

    def render(
        self, messages: Sequence[PromptMessage], reply_name: str | None, reply_role: str = "assistant"
    ) -> str:
        if reply_name is None:
            return self._fmt.render(messages, None)
        return self._fmt.render(messages, self._persona, "user")

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return self._fmt.stop_strings(self._persona, [self._character, *other_names])


class PromptAssembler:
    """The prompts of one chat: its card(s), personas, memory and lore,
    within the engine's context. ``engine`` is None for a chat opened
    without a model (nothing is built then)."""

    def __init__(self, ws: Workspace, engine: Engine | None, scene: SceneState, memory: ChatMemory) -> None:
        self.ws = ws
        self.engine = engine
        self.scene = scene
        self.mem = memory
        self._format: ChatFormat | None = None

    @property
    def format(self) -> ChatFormat:
        if self._format is None:
            assert self.engine is not None, "a chat format needs an engine"
            info = self.engine.info
            name = choose_format(
                self.ws.config.model.chat_format,
                chat_template=info.chat_template,
                is_default_model=is_default_model(info.path, self.ws.paths.models),
            )
            self._format = get_format(
                name,
                chat_template=info.chat_template,
                bos_token=info.bos_token,
                eos_token=info.eos_token,
            )
        return self._format

    def prompt(
        self, msgs: Sequence[Message], fmt: ChatFormat | None = None, *, speaker: str | None = None
    ) -> Prompt:
        """The prompt for the next reply after ``msgs``; in a group, ``speaker``'s
        (default: the next in turn after the last AI speaker)."""
        assert self.engine is not None, "prompts need an engine"
        scene = self.scene
        cfg = self.ws.config
        reserve = cfg.prompt.reply_reserve or cfg.sampling.max_tokens
        count = counts_for(self.engine)
        builder = PromptBuilder(
            fmt=fmt or self.format,
            tokenize=self.engine.tokenize,
            n_ctx=self.engine.info.n_ctx,
            reply_reserve=reserve,
            system_text=cfg.prompt.system,
            count_text=count,
            literal=literal_for(self.engine.info.control_tokens),
        )
        memory_text, unfolded = self.mem.prompt_parts([m for m in msgs if m.text.strip()], count)
        turns = [Turn(m.speaker, m.role, m.text) for m in story_messages(unfolded)]
        directions = scene.directions(msgs)
        if not scene.is_group:
            persona = self.ws.persona()
            speakers = [m.speaker for m in msgs if m.role == "user"]
            return builder.build(
                character_text(scene.character),
                persona.name,
                persona.description,
                turns,
                other_names=speakers,
                books=self.ws.lorebooks(scene.character),
                memory_text=memory_text,
                boundaries=boundaries_text(scene.personas),
                directions=directions,
            )
        personas = scene.personas
        typing = next((m.speaker for m in reversed(msgs) if m.role == "user"), "")
        setting = SceneText(
            characters=[character_text(e) for e in scene.characters],
            personas=[PersonaText(p.name, p.description) for p in personas],
            speaker=speaker or scene.next_in_turn(msgs),
            typing=typing,
            narrator=scene.narrator,
            boundaries=boundaries_text(personas),
            directions=directions,
        )
        books = books_from(
            [*(e.card.character_book for e in scene.characters), *(b for _slug, b in self.ws.standalone_books())]
        )
        speakers = [m.speaker for m in msgs if m.role in ("user", "assistant")]
        return builder.build_scene(setting, turns, other_names=speakers, books=books, memory_text=memory_text)
