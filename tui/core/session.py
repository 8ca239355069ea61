"""One open chat: the facade the CLI and the UI talk to.

A turn flows one way: ``send`` appends the user's message durably, builds
the prompt, streams the engine's reply, and commits the reply when it ends
or is stopped. A cancelled (or interrupted) reply is kept as what was
generated so far, marked ``stopped``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tui.core.engine import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.formats import ChatFormat, choose_format, get_format
from tui.core.models import is_default_model
from tui.core.prompt import CharacterText, Prompt, PromptBuilder, Turn
from tui.core.store import ChatInfo, Message
from tui.core.workspace import CardEntry, Workspace


@dataclass(frozen=True)
class ReplyDone:
    """The reply is on disk."""

    message: Message
    reason: str


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


class Session:
    def __init__(self, ws: Workspace, chat_id: str, engine: Engine) -> None:
        self.ws = ws
        self.engine = engine
        self.info: ChatInfo = ws.store.chat(chat_id)
        self.character = ws.card(self.info.characters[0])
        self._format: ChatFormat | None = None

    @property
    def chat_id(self) -> str:
        return self.info.id

    def messages(self) -> list[Message]:
        msgs, _report = self.ws.store.messages(self.chat_id)
        return msgs

    @property
    def format(self) -> ChatFormat:
        if self._format is None:
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

    def build_prompt(self) -> Prompt:
        cfg = self.ws.config
        persona = self.ws.persona()
        reserve = cfg.prompt.reply_reserve or cfg.sampling.max_tokens
        builder = PromptBuilder(
            fmt=self.format,
            tokenize=lambda text, bos: self.engine.tokenize(text, add_bos=bos),
            n_ctx=self.engine.info.n_ctx,
            reply_reserve=reserve,
            system_text=cfg.prompt.system,
        )
        turns = [
            Turn(m.speaker, m.role, m.text) for m in self.messages() if m.text.strip()
        ]
        speakers = [t.speaker for t in turns if t.role == "user"]
        return builder.build(
            character_text(self.character),
            persona.name,
            persona.description,
            turns,
            other_names=speakers,
        )

    def send(
        self,
        text: str,
        *,
        speaker: str | None = None,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Store ``text`` as the user's message, then stream the reply."""
        speaker = speaker or self.ws.persona().name
        self.ws.store.append(self.chat_id, Message.new(speaker, "user", text))
        return self.reply(sampling=sampling, cancel=cancel)

    def reply(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Stream the character's next reply and commit it."""
        prompt = self.build_prompt()
        cancel = cancel or threading.Event()
        request = GenerationRequest(
            tokens=prompt.tokens,
            sampling=sampling or self.ws.sampling(),
            stop=prompt.stop,
        )
        return self._stream(prompt, request, cancel)

    def _stream(
        self, prompt: Prompt, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[Chunk | ReplyDone]:
        events = self.engine.stream(request, cancel)
        finished: Finished | None = None
        shown = ""
        try:
            for ev in events:
                if isinstance(ev, Finished):
                    finished = ev
                    break
                piece = ev.text if shown else ev.text.lstrip()
                if piece:
                    shown += piece
                    yield Chunk(piece)
        finally:
            if finished is None:
                # Interrupted (Ctrl+C, the consumer went away, an engine
                # error): stop the engine and keep what was generated so far.
                cancel.set()
                try:
                    finished = next((e for e in events if isinstance(e, Finished)), None)
                except Exception:  # noqa: BLE001 - the original error wins
                    finished = None
                events.close()
                if shown.strip() or (finished and finished.text.strip()):
                    text = finished.text if finished else shown
                    metrics = finished.metrics if finished else {}
                    self._commit(prompt, Finished(text, "cancelled", metrics))
        yield ReplyDone(self._commit(prompt, finished), finished.reason)

    def _commit(self, prompt: Prompt, fin: Finished) -> Message:
        msg = Message.new(
            prompt.reply_name,
            "assistant",
            fin.text.strip(),
            status="stopped" if fin.reason == "cancelled" else "ok",
            metrics=dict(fin.metrics),
        )
        msg.extra["finish"] = fin.reason
        self.ws.store.append(self.chat_id, msg)
        return msg
