"""One open chat: the facade the CLI and the UI talk to. A turn flows one
way: ``send`` stores the line, builds the prompt, streams the reply and
commits it when it ends or is stopped. ``Session`` is composed of a
``SceneState``, a ``PromptAssembler``, a ``ReplyGuard`` with its
``ReplyRunner`` and a ``ChatMemory``. See docs/ARCHITECTURE.md, "The chat turn"."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tui.core.chat.events import (
    Impersonation,
    LineKind,
    NothingToContinue,
    ReplyDone,
    ScenePaused,
    ScenePausedError,
    SessionBusy,
    SessionError,
    SlowDown,
    SpeakerStarted,
    is_signal,
    message_kind,
)
from tui.core.chat.prompting import (
    ContinueFormat,
    PersonaFormat,
    PromptAssembler,
    character_text,
    greeting_swipes,
    offer_greetings,
)
from tui.core.chat.scene_state import SceneState, name_key
from tui.core.chat.streaming import Guarded, ReplyGuard, ReplyRunner, events_of, reply_status
from tui.core.engine.api import Chunk, Engine, Finished, Sampling
from tui.core.engine.literal import literal_for
from tui.core.memory.document import Memory
from tui.core.memory.upkeep import ChatMemory, Upkeep
from tui.core.profile.personas import PersonaProfile
from tui.core.profile.workspace import CardEntry, Workspace
from tui.core.prompt.formats import ChatFormat
from tui.core.prompt.parts import Prompt
from tui.core.scene.rules import SceneSettings, next_speakers
from tui.core.storage.errors import MessageNotFound
from tui.core.storage.model import ChatInfo, Message

__all__ = [
    "Impersonation",
    "NothingToContinue",
    "ReplyDone",
    "ScenePaused",
    "ScenePausedError",
    "Session",
    "SessionBusy",
    "SessionError",
    "SlowDown",
    "SpeakerStarted",
    "character_text",
    "greeting_swipes",
    "is_signal",
    "message_kind",
]


class Session:
    """One open chat. ``engine`` may be None for work that never runs the
    model (checks, the safeword, out-of-character lines, ``resume_scene``,
    a group's manual turns); see ``would_generate``."""

    def __init__(self, ws: Workspace, chat_id: str, engine: Engine | None) -> None:
        self.ws = ws
        self.engine = engine
        info: ChatInfo = ws.store.chat(chat_id)
        if not info.characters:
            raise SessionError(f"chat {chat_id!r} has no characters")
        self.guard = ReplyGuard(ws.store, chat_id)
        self.scene = SceneState(ws, info, self.guard)
        self.mem = ChatMemory(
            ws.store, chat_id, engine, ws.config,
            build_prompt=self.build_prompt,
            speakers=lambda: (self.character.card.display_name, ws.persona().name),
        )
        self.prompts = PromptAssembler(ws, engine, self.scene, self.mem)
        self.runner = ReplyRunner(
            ws.store, chat_id, engine, self.guard,
            build=self.prompts.prompt,
            recent=self.messages,
            sampling=ws.sampling,
            is_group=lambda: self.scene.is_group,
            is_narrator=lambda name: bool(self.narrator) and name_key(name) == name_key(self.narrator),
        )
        self.recent_start = 0  # position of the first message ``messages()`` returned
        self.unfolded_from = 0  # and of the first one not folded into memory, as it found

    # -- the chat and its people (``SceneState``) ------------------------------
    @property
    def info(self) -> ChatInfo:
        return self.scene.info

    @property
    def chat_id(self) -> str:
        return self.scene.info.id

    @property
    def characters(self) -> list[CardEntry]:
        return self.scene.characters

    @property
    def character(self) -> CardEntry:
        """The first character (one-to-one callers)."""
        return self.scene.character

    @property
    def scene_settings(self) -> SceneSettings:
        return self.scene.scene_settings

    @property
    def rng(self) -> random.Random:
        """Who speaks next under the "natural" policy (seed it for tests)."""
        return self.scene.rng

    @rng.setter
    def rng(self, value: random.Random) -> None:
        self.scene.rng = value

    @property
    def is_group(self) -> bool:
        return self.scene.is_group

    @property
    def narrator(self) -> str:
        return self.scene.narrator

    @property
    def personas(self) -> list[PersonaProfile]:
        return self.scene.personas

    @property
    def persona_names(self) -> list[str]:
        return self.scene.persona_names

    @property
    def ai_names(self) -> list[str]:
        return self.scene.ai_names

    @property
    def paused(self) -> bool:
        return self.scene.paused

    @property
    def scene_ended(self) -> bool:
        return self.scene.scene_ended

    def persona_named(self, name: str) -> str:
        return self.scene.persona_named(name)

    def speaker_named(self, name: str) -> str:
        return self.scene.speaker_named(name)

    def classify(self, text: str) -> LineKind:
        return self.scene.classify(text)

    def would_generate(self, text: str) -> bool:
        return self.scene.would_generate(text)

    def check_not_paused(self) -> None:
        self.scene.check_not_paused()

    def interrupt(self, text: str, speaker: str | None = None) -> ScenePaused | SlowDown:
        return self.scene.interrupt(text, speaker)

    def resume_scene(self, choice: str, note: str = "", *, speaker: str | None = None) -> Message:
        return self.scene.resume_scene(choice, note, speaker=speaker)

    # -- prompts (``PromptAssembler``) ------------------------------------------
    @property
    def format(self) -> ChatFormat:
        return self.prompts.format

    def build_prompt(self, speaker: str | None = None) -> Prompt:
        """The prompt for the next reply to the current history; in a group,
        ``speaker``'s (default: the next in turn after the last AI speaker)."""
        return self.prompts.prompt(self.messages(), speaker=self.speaker_named(speaker) if speaker else None)

    # -- history ------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a reply (or an impersonation) is being generated."""
        return self.guard.busy

    def messages(self) -> list[Message]:
        """The recent history, what the next prompt can use (``ChatMemory.window``).
        A lone greeting carries the card's other greetings as swipes."""
        w = self.mem.window()
        self.recent_start, self.unfolded_from = w.start, w.floor
        self._offer_greetings(w.messages)
        return w.messages

    def history(self) -> list[Message]:
        """Every message of the chat (O(history): for exports and re-summaries)."""
        msgs, _report = self.ws.store.messages(self.chat_id)
        self._offer_greetings(msgs)
        return msgs

    # -- memory (the Memory screen's controller; see tui.core.memory.upkeep) -----
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
    ) -> Iterator[Chunk | ReplyDone | SpeakerStarted | ScenePaused | SlowDown]:
        """Store ``text`` as ``speaker``'s line (default: the persona typing),
        then stream the reply (in a group: every reply the turn policy asks
        for, each announced by ``SpeakerStarted``).

        The safeword yields ``ScenePaused`` and generates nothing (while a
        reply runs, it interrupts it); the slow-down word is recorded
        (``SlowDown``) and the reply follows; an out-of-character line is
        stored and gets no reply. While the scene is paused this raises
        ``ScenePausedError`` (the safeword and OOC lines still go through).
        """
        if not text.strip():
            raise SessionError("the message is empty")
        who = self.scene.who(speaker)
        kind = self.classify(text)
        if kind == "safeword":
            return Guarded(events_of([self.interrupt(text, who)]), lambda: None)
        if kind == "ooc":
            self.guard.check_idle()
            msg = Message.new(who, "user", text)
            msg.extra["ooc"] = True
            self.ws.store.append(self.chat_id, msg)
            return Guarded(events_of([]), lambda: None)
        self.check_not_paused()

        def start(release: Callable[[], None]) -> Iterator[Any]:
            lead: list[Any] = []
            if kind == "slowword":  # recorded before the reply, which it guides
                self.ws.store.append(self.chat_id, self.scene.slow_signal(who))
                lead.append(SlowDown(who))
            else:
                self.ws.store.append(self.chat_id, Message.new(who, "user", text))
            msgs = self.messages()
            if not self.is_group:
                return self.runner.replies([self.character.card.display_name], msgs, sampling, cancel, release, lead)
            names = next_speakers(self.scene.participants, msgs, text, self.scene_settings, self.scene.rng)
            return self.runner.replies(names, msgs, sampling, cancel, release, lead)

        return self.guard.start(start)

    def reply(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone | SpeakerStarted | ScenePaused]:
        """Stream the next reply and commit it. In a group the turn policy
        picks who answers the last human line (under the manual policy: the
        next character in turn)."""
        self.check_not_paused()

        def start(release: Callable[[], None]) -> Iterator[Any]:
            msgs = self.messages()
            return self.runner.replies(self.scene.next_names(msgs), msgs, sampling, cancel, release)

        return self.guard.start(start)

    def reply_as(
        self,
        name: str,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone | SpeakerStarted | ScenePaused]:
        """Stream one reply by the character (or narrator) ``name``:
        ``SpeakerStarted``, chunks, ``ReplyDone``."""
        speaker = self.speaker_named(name)
        self.check_not_paused()

        def start(release: Callable[[], None]) -> Iterator[Any]:
            return self.runner.replies([speaker], self.messages(), sampling, cancel, release, announce=True)

        return self.guard.start(start)

    def regenerate(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Write another version of the last reply, added as a swipe and chosen.

        The prompt is the history without that reply; in a group the reply's
        own speaker writes it again. When the last message is not a reply,
        this just generates the next reply. A stopped version is kept
        (marked stopped) if anything was generated.
        """
        self.check_not_paused()

        def start(release: Callable[[], None]) -> Iterator[Any]:
            msgs = self.messages()
            if not msgs or msgs[-1].role != "assistant":
                return self.runner.replies(self.scene.next_names(msgs), msgs, sampling, cancel, release)
            target = msgs[-1]
            prompt = self.prompts.prompt(msgs[:-1], speaker=target.speaker if self.is_group else None)

            def finish(fin: Finished) -> ReplyDone:
                text = fin.text.strip()
                if not text:  # nothing to keep: the message stays as it was
                    return ReplyDone(self._find(target.id), fin.reason)

                def change(m: Message) -> None:
                    m.add_swipe(
                        text,
                        status=reply_status(fin),
                        metrics=dict(fin.metrics),
                        finish=fin.reason,
                    )

                return ReplyDone(self._update(target.id, change), fin.reason)

            return self.runner.stream(prompt, sampling, cancel, release, finish)

        return self.guard.start(start)

    def continue_reply(
        self,
        *,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | ReplyDone]:
        """Extend the last reply where it ended (in a group, by its speaker).

        Chunks are the raw continuation (a leading space included), ready to
        be appended to the text on screen. The message's text (and chosen
        swipe) grows by what was generated; its metrics describe this run,
        with ``generated_tokens`` summed over all runs and ``continued``
        counting them.
        """
        self.guard.check_idle()
        self.check_not_paused()
        msgs = self.messages()
        if not msgs or msgs[-1].role != "assistant" or not msgs[-1].text.strip():
            raise NothingToContinue("there is no reply to continue: the last message is not the character's")

        def start(release: Callable[[], None]) -> Iterator[Chunk | ReplyDone]:
            target = msgs[-1]
            existing = target.text.strip()
            literal = literal_for(self.engine.info.control_tokens) if self.engine else None
            fmt = ContinueFormat(self.format, existing, literal)
            prompt = self.prompts.prompt(msgs[:-1], fmt, speaker=target.speaker if self.is_group else None)

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
                    m.status = reply_status(fin)
                    m.extra["finish"] = fin.reason
                    m.set_text(existing + added)

                return ReplyDone(self._update(target.id, change), fin.reason)

            return self.runner.stream(prompt, sampling, cancel, release, finish, lstrip=False)

        return self.guard.start(start)

    def impersonate(
        self,
        *,
        speaker: str | None = None,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | Impersonation]:
        """Draft the next line of ``speaker`` (default: the persona typing)
        with the model, for the composer.

        Ends with an ``Impersonation``; nothing is written to the chat.
        """
        self.check_not_paused()
        persona = self.scene.who(speaker) if self.is_group else self.ws.persona().name

        def start(release: Callable[[], None]) -> Iterator[Chunk | Impersonation]:
            fmt = PersonaFormat(self.format, persona, self.character.card.display_name)
            prompt = self.prompts.prompt(self.messages(), fmt, speaker=persona if self.is_group else None)
            return self.runner.stream(
                prompt,
                sampling,
                cancel,
                release,
                lambda fin: Impersonation(fin.text.strip(), fin.reason, dict(fin.metrics)),
                keep_partial=False,
            )

        return self.guard.start(start)

    # -- swipes and history ---------------------------------------------------

    def swipe(self, direction: int) -> Message | None:
        """Choose the previous (-1) or next (+1) version of the last reply.

        Returns the updated message (already on disk), or None when there is
        none that way (the UI then offers ``regenerate``).
        """
        if direction not in (-1, 1):
            raise ValueError("swipe direction must be -1 or +1")
        self.guard.check_idle()
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
        self.guard.check_idle()
        text = text.strip()
        if not text:
            raise SessionError("a message cannot be empty; delete it instead")
        msg = self._update(msg_id, lambda m: m.set_text(text))
        self.mem.discard_cache()  # it holds the old text as token ids
        return msg

    def delete_from(self, msg_id: str) -> int:
        """Delete that message and everything after it; return how many went."""
        self.guard.check_idle()
        gone = self.ws.store.delete_from(self.chat_id, msg_id)
        self.mem.discard_cache()  # it holds the deleted text as token ids
        return gone

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

    def _offer_greetings(self, msgs: list[Message]) -> None:
        offer_greetings(msgs, self.character.card, self.scene.default_persona())

    def _find(self, msg_id: str) -> Message:
        for m in reversed(self.messages()):
            if m.id == msg_id:
                return m
        pos = self.ws.store.position(self.chat_id, msg_id)
        if pos is not None:
            return self.ws.store.page(self.chat_id, pos, pos + 1)[0]
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

    # -- the chat screen's calls (thin: the work is ChatMemory's) ---------------
    def save_cache(self) -> int:
        """Keep the chat's KV cache on disk (``[memory] save_state``); bytes written."""
        return self.mem.save_cache()

    def restore_cache(self) -> int:
        """Load the saved KV cache back into the engine; 0 when none was saved."""
        return self.mem.restore_cache()

    def warm(self) -> None:
        """Pre-evaluate the next prompt, so the first reply starts fast."""
        self.mem.warm()

    def memory_behind(self) -> bool:
        """True when more than the window waits to be folded (a backlog)."""
        return self.mem.behind()

    def memory_due(self) -> bool:
        """True when the window is over budget: there is something to fold."""
        return self.mem.plan() is not None

    def memory_progress(self) -> tuple[int, int]:
        """(messages folded into memory, messages in the chat)."""
        return self.mem.progress()

    def catch_up_memory(
        self, cancel: threading.Event | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Upkeep:
        """Fold old messages, oldest first, each fold saved as it is done."""
        return self.mem.catch_up(cancel, progress)
