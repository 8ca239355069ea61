"""One open chat: the facade the CLI and the UI talk to.

A turn flows one way: ``send`` appends the user's message durably, builds
the prompt, streams the engine's reply, and commits the reply when it ends
or is stopped. A cancelled (or interrupted) reply is kept as what was
generated so far, marked ``stopped``.

The other chat operations (SillyTavern style) live here too:

- ``regenerate`` writes another version of the last reply and keeps every
  version as a *swipe* of that message; ``swipe`` moves between them.
- ``continue_reply`` extends the last reply where it ended.
- ``impersonate`` drafts the user's next line; nothing is stored.
- ``edit``, ``delete_from``, ``branch`` and ``search`` work on the history.

Streaming methods return an iterator of ``Chunk`` then one final event
(``ReplyDone``, or ``Impersonation``). One generation runs at a time per
Session: starting a second one, or changing the history while one runs,
raises ``SessionBusy``. A stream that is closed early (Esc, Ctrl+C, the
consumer went away) stops the engine and keeps what was generated so far.

The card's alternate greetings are offered as swipes of the greeting while
it is the chat's only message; they are written to disk the first time the
greeting is swiped, regenerated or edited (see ``greeting_swipes``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tui.core.cards import Card
from tui.core.engine import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.formats import ChatFormat, PromptMessage, choose_format, get_format
from tui.core.macros import expand
from tui.core.memory import Memory
from tui.core.memory_jobs import ChatMemory, Upkeep
from tui.core.models import is_default_model
from tui.core.prompt import CharacterText, Prompt, PromptBuilder, Turn
from tui.core.store import ChatInfo, Message, MessageNotFound, StoreError
from tui.core.workspace import CardEntry, Workspace

E = TypeVar("E")


class SessionError(StoreError):
    """A chat operation that cannot be done now; ``str()`` is one clear line.

    (A ``StoreError`` so that every front end already shows it as one line.)
    """


class SessionBusy(SessionError):
    """A reply is still being generated in this session."""


class NothingToContinue(SessionError):
    """``continue_reply`` needs a character's reply as the last message."""


@dataclass(frozen=True)
class ReplyDone:
    """The reply is on disk."""

    message: Message
    reason: str


@dataclass(frozen=True)
class Impersonation:
    """The drafted user line (stored nowhere): the final event of ``impersonate``."""

    text: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)


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


# --------------------------------------------------------------------------
# chat-format adapters for the prompts that are not "the character's next reply"


class _ContinueFormat:
    """``fmt`` with the text being continued written after the reply prefix,
    so the prompt ends ``Name: <existing text>``."""

    def __init__(self, fmt: ChatFormat, existing: str) -> None:
        self._fmt = fmt
        self._existing = existing
        self.name = fmt.name
        self.add_bos = fmt.add_bos

    def render(
        self, messages: Sequence[PromptMessage], reply_name: str | None, reply_role: str = "assistant"
    ) -> str:
        text = self._fmt.render(messages, reply_name, reply_role)
        return text if reply_name is None else f"{text} {self._existing}"

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return self._fmt.stop_strings(reply_name, other_names)


class _PersonaFormat:
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


# --------------------------------------------------------------------------
# the one-generation-at-a-time guard


class _Guarded(Generic[E]):
    """The iterator a streaming method returns: it frees the session when the
    stream ends, fails, is closed, or is dropped without being started."""

    def __init__(self, gen: Iterator[E], release: Callable[[], None]) -> None:
        self._gen = gen
        self._release = release

    def __iter__(self) -> _Guarded[E]:
        return self

    def __next__(self) -> E:
        try:
            return next(self._gen)
        except BaseException:
            self._release()
            raise

    def close(self) -> None:
        """Stop early; a partial reply is kept (marked stopped)."""
        try:
            self._gen.close()  # type: ignore[attr-defined]
        finally:
            self._release()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


# --------------------------------------------------------------------------
# the session


class Session:
    def __init__(self, ws: Workspace, chat_id: str, engine: Engine) -> None:
        self.ws = ws
        self.engine = engine
        self.info: ChatInfo = ws.store.chat(chat_id)
        self.character = ws.card(self.info.characters[0])
        self._format: ChatFormat | None = None
        self._generating = threading.Lock()
        self.mem = ChatMemory(self)

    @property
    def chat_id(self) -> str:
        return self.info.id

    @property
    def busy(self) -> bool:
        """True while a reply (or an impersonation) is being generated."""
        return self._generating.locked()

    def messages(self) -> list[Message]:
        """The history; a lone greeting carries the card's other greetings as swipes."""
        msgs, _report = self.ws.store.messages(self.chat_id)
        self._offer_greetings(msgs)
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
        """The prompt for the character's next reply to the current history."""
        return self._prompt(self.messages())

    # -- memory (the Memory screen's controller; see tui.core.memory_jobs) -----
    def memory(self) -> Memory:
        return self.mem.memory()

    def save_memory(self, m: Memory) -> None:
        self.mem.save(m)

    @property
    def memory_busy(self) -> bool:
        return self.mem.busy

    def maintain_memory(self, cancel: threading.Event | None = None) -> Upkeep:
        """Fold old messages into memory if the window is over budget (blocking;
        run it off the UI thread). A user turn preempts it."""
        return self.mem.maintain(cancel)

    def resummarize(self) -> None:
        """Rewrite the summary of everything folded so far, in the background."""
        threading.Thread(target=self.mem.resummarize, name="candlelit-resummarize", daemon=True).start()

    # -- generating ---------------------------------------------------------

    def send(
        self,
        text: str,
        *,
        speaker: str | None = None,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Store ``text`` as the user's message, then stream the reply."""
        if not text.strip():
            raise SessionError("the message is empty")

        def start(release: Callable[[], None]) -> Iterator[Chunk | ReplyDone]:
            who = speaker or self.ws.persona().name
            self.ws.store.append(self.chat_id, Message.new(who, "user", text))
            return self._reply_stream(self.messages(), sampling, cancel, release)

        return self._start(start)

    def reply(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Stream the character's next reply and commit it."""
        return self._start(
            lambda release: self._reply_stream(self.messages(), sampling, cancel, release)
        )

    def regenerate(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Write another version of the last reply, added as a swipe and chosen.

        The prompt is the history without that reply. When the last message
        is not a character's reply, this just generates the next reply. A
        stopped version is kept (marked stopped) if anything was generated.
        """

        def start(release: Callable[[], None]) -> Iterator[Chunk | ReplyDone]:
            msgs = self.messages()
            if not msgs or msgs[-1].role != "assistant":
                return self._reply_stream(msgs, sampling, cancel, release)
            target = msgs[-1]
            prompt = self._prompt(msgs[:-1])

            def finish(fin: Finished) -> ReplyDone:
                text = fin.text.strip()
                if not text:  # nothing to keep: the message stays as it was
                    return ReplyDone(self._find(target.id), fin.reason)

                def change(m: Message) -> None:
                    m.add_swipe(
                        text,
                        status=_status(fin),
                        metrics=dict(fin.metrics),
                        finish=fin.reason,
                    )

                return ReplyDone(self._update(target.id, change), fin.reason)

            return self._stream(prompt, sampling, cancel, release, finish)

        return self._start(start)

    def continue_reply(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Extend the last reply where it ended.

        Chunks are the raw continuation (a leading space included), ready to
        be appended to the text on screen. The message's text (and chosen
        swipe) grows by what was generated; its metrics describe this run,
        with ``generated_tokens`` summed over all runs and ``continued``
        counting them.
        """
        self._check_idle()
        msgs = self.messages()
        if not msgs or msgs[-1].role != "assistant" or not msgs[-1].text.strip():
            raise NothingToContinue("there is no reply to continue: the last message is not the character's")

        def start(release: Callable[[], None]) -> Iterator[Chunk | ReplyDone]:
            target = msgs[-1]
            existing = target.text.strip()
            fmt = _ContinueFormat(self.format, existing)
            prompt = self._prompt(msgs[:-1], fmt)

            def finish(fin: Finished) -> ReplyDone:
                added = fin.text.rstrip()
                if not added.strip():
                    return ReplyDone(self._find(target.id), fin.reason)

                def change(m: Message) -> None:
                    metrics = dict(fin.metrics)
                    before = m.metrics or {}
                    old_n, new_n = before.get("generated_tokens"), metrics.get("generated_tokens")
                    if isinstance(old_n, int) and isinstance(new_n, int):
                        metrics["generated_tokens"] = old_n + new_n
                    runs = before.get("continued", 0)
                    metrics["continued"] = (runs if isinstance(runs, int) else 0) + 1
                    m.metrics = metrics
                    m.status = _status(fin)
                    m.extra["finish"] = fin.reason
                    m.set_text(existing + added)

                return ReplyDone(self._update(target.id, change), fin.reason)

            return self._stream(prompt, sampling, cancel, release, finish, lstrip=False)

        return self._start(start)

    def impersonate(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | Impersonation]:
        """Draft the user's next line with the model, for the composer.

        Ends with an ``Impersonation``; nothing is written to the chat.
        """

        def start(release: Callable[[], None]) -> Iterator[Chunk | Impersonation]:
            persona = self.ws.persona().name
            fmt = _PersonaFormat(self.format, persona, self.character.card.display_name)
            prompt = self._prompt(self.messages(), fmt)
            return self._stream(
                prompt,
                sampling,
                cancel,
                release,
                lambda fin: Impersonation(fin.text.strip(), fin.reason, dict(fin.metrics)),
                keep_partial=False,
            )

        return self._start(start)

    # -- swipes and history ---------------------------------------------------

    def swipe(self, direction: int) -> Message | None:
        """Choose the previous (-1) or next (+1) version of the last reply.

        Returns the updated message (already on disk), or None when there is
        none that way (the UI then offers ``regenerate``).
        """
        if direction not in (-1, 1):
            raise ValueError("swipe direction must be -1 or +1")
        self._check_idle()
        msgs = self.messages()
        if not msgs or msgs[-1].role != "assistant":
            return None
        last = msgs[-1]
        index = last.swipe_index() + direction
        if not 0 <= index < len(last.swipes()):
            return None
        return self._update(last.id, lambda m: m.select_swipe(index))

    def edit(self, msg_id: str, text: str) -> Message:
        """Replace a message's text (its chosen swipe with it)."""
        self._check_idle()
        text = text.strip()
        if not text:
            raise SessionError("a message cannot be empty; delete it instead")
        return self._update(msg_id, lambda m: m.set_text(text))

    def delete_from(self, msg_id: str) -> int:
        """Delete that message and everything after it; return how many went."""
        self._check_idle()
        return self.ws.store.delete_from(self.chat_id, msg_id)

    def branch(self, msg_id: str, title: str | None = None) -> ChatInfo:
        """A new chat with this history up to and including ``msg_id``.

        Its chat.toml records ``parent`` and ``parent_message``. This session
        stays on the original chat.
        """
        return self.ws.store.branch_chat(self.chat_id, msg_id, title)

    def search(self, query: str) -> list[tuple[Message, list[tuple[int, int]]]]:
        """Messages containing ``query`` (case-insensitive) with the
        ``(start, end)`` spans of each match in ``message.text``."""
        return self.ws.store.search(self.chat_id, query)

    # -- internals ------------------------------------------------------------

    def _check_idle(self) -> None:
        if self.busy:
            raise SessionBusy("a reply is still being generated; stop it first")

    def _start(self, make: Callable[[Callable[[], None]], Iterator[E]]) -> Iterator[E]:
        """Claim the session for one generation and build its stream."""
        if not self._generating.acquire(blocking=False):
            raise SessionBusy("a reply is still being generated; stop it first")
        guard = threading.Lock()
        released = False

        def release() -> None:
            nonlocal released
            with guard:
                if released:
                    return
                released = True
            self._generating.release()

        try:
            return _Guarded(make(release), release)
        except BaseException:
            release()
            raise

    def _offer_greetings(self, msgs: list[Message]) -> None:
        if len(msgs) != 1:
            return
        m = msgs[0]
        card = self.character.card
        if m.role != "assistant" or m.speaker != card.display_name or "swipes" in m.extra:
            return
        if not card.alternate_greetings:
            return
        options = greeting_swipes(card, self.ws.persona().name)
        others = [g for g in options if g != m.text]
        if not others:
            return
        current = {"status": m.status}
        m.extra["swipes"] = [m.text, *others]
        m.extra["swipe"] = 0
        m.extra["swipe_meta"] = [current, *({"status": "ok"} for _ in others)]

    def _find(self, msg_id: str) -> Message:
        for m in self.messages():
            if m.id == msg_id:
                return m
        raise MessageNotFound(f"no message {msg_id!r} in chat {self.chat_id!r}")

    def _update(self, msg_id: str, change: Callable[[Message], None]) -> Message:
        """Change one message and rewrite the chat atomically."""

        def apply(msgs: list[Message]) -> Message:
            self._offer_greetings(msgs)
            for m in msgs:
                if m.id == msg_id:
                    change(m)
                    return m
            raise MessageNotFound(f"no message {msg_id!r} in chat {self.chat_id!r}")

        return self.ws.store.modify_messages(self.chat_id, apply)

    def _prompt(self, msgs: Sequence[Message], fmt: ChatFormat | None = None) -> Prompt:
        cfg = self.ws.config
        persona = self.ws.persona()
        reserve = cfg.prompt.reply_reserve or cfg.sampling.max_tokens
        builder = PromptBuilder(
            fmt=fmt or self.format,
            tokenize=lambda text, bos: self.engine.tokenize(text, add_bos=bos),
            n_ctx=self.engine.info.n_ctx,
            reply_reserve=reserve,
            system_text=cfg.prompt.system,
        )
        count = lambda text: len(self.engine.tokenize(text, add_bos=False))  # noqa: E731
        memory_text, unfolded = self.mem.prompt_parts([m for m in msgs if m.text.strip()], count)
        turns = [Turn(m.speaker, m.role, m.text) for m in unfolded]
        speakers = [m.speaker for m in msgs if m.role == "user"]
        return builder.build(
            character_text(self.character),
            persona.name,
            persona.description,
            turns,
            other_names=speakers,
            books=self.ws.lorebooks(self.character),
            memory_text=memory_text,
        )

    def _reply_stream(
        self,
        msgs: Sequence[Message],
        sampling: Sampling | None,
        cancel: threading.Event | None,
        release: Callable[[], None],
    ) -> Iterator[Chunk | ReplyDone]:
        prompt = self._prompt(msgs)
        return self._stream(
            prompt,
            sampling,
            cancel,
            release,
            lambda fin: ReplyDone(self._commit(prompt, fin), fin.reason),
        )

    def _stream(
        self,
        prompt: Prompt,
        sampling: Sampling | None,
        cancel: threading.Event | None,
        release: Callable[[], None],
        finish: Callable[[Finished], E],
        *,
        lstrip: bool = True,
        keep_partial: bool = True,
    ) -> Iterator[Chunk | E]:
        request = GenerationRequest(
            tokens=prompt.tokens,
            sampling=sampling or self.ws.sampling(),
            stop=prompt.stop,
        )
        return self._events(request, cancel or threading.Event(), release, finish, lstrip, keep_partial)

    def _events(
        self,
        request: GenerationRequest,
        cancel: threading.Event,
        release: Callable[[], None],
        finish: Callable[[Finished], E],
        lstrip: bool,
        keep_partial: bool,
    ) -> Iterator[Chunk | E]:
        events = self.engine.stream(request, cancel)
        finished: Finished | None = None
        shown = ""
        completed = False
        try:
            for ev in events:
                if isinstance(ev, Finished):
                    finished = ev
                    break
                piece = ev.text if (shown or not lstrip) else ev.text.lstrip()
                if piece:
                    shown += piece
                    yield Chunk(piece)
            completed = True
        finally:
            if not completed:
                # Interrupted (Ctrl+C, the consumer went away, an engine
                # error): stop the engine and keep what was generated so far.
                cancel.set()
                try:
                    finished = next((e for e in events if isinstance(e, Finished)), None)
                except Exception:  # noqa: BLE001 - the original error wins
                    finished = None
                events.close()
                if keep_partial and (shown.strip() or (finished and finished.text.strip())):
                    text = finished.text if finished else shown
                    metrics = finished.metrics if finished else {}
                    finish(Finished(text, "cancelled", metrics))
        if finished is None:  # the engine ended without a verdict
            finished = Finished(shown, "cancelled", {})
        result = finish(finished)
        release()
        yield result

    def _commit(self, prompt: Prompt, fin: Finished) -> Message:
        msg = Message.new(
            prompt.reply_name,
            "assistant",
            fin.text.strip(),
            status=_status(fin),
            metrics=dict(fin.metrics),
        )
        msg.extra["finish"] = fin.reason
        self.ws.store.append(self.chat_id, msg)
        return msg


def _status(fin: Finished) -> str:
    return "stopped" if fin.reason == "cancelled" else "ok"
