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

Group scenes (several characters, several personas, or a narrator; see
``tui.core.scene``): ``send(text, speaker=persona)`` stores the line as that
persona's, then, for each AI speaker the chat's turn policy picks, yields
``SpeakerStarted(name)``, that speaker's ``Chunk``s and its ``ReplyDone``.
``reply_as(name)`` makes one chosen character answer (the manual policy).
Regenerate and continue work on the last reply with *its* speaker. A
one-to-one chat yields no ``SpeakerStarted`` and gets the same prompt as
before scenes existed.

Every chat has a safeword and a slow-down word (chat.toml ``[scene]``). The
safeword typed alone (``send``, or ``interrupt`` while a reply streams) stops
any generation within a token, records a system message, pauses the scene
(``[scene] paused = true``, ``paused_by``) and generates nothing: while
paused, every generating call raises ``ScenePausedError`` until
``resume_scene`` (choosing "end" also sets ``ended``). The
slow-down word is recorded and asks the next reply to slow down and check in.
Out-of-character lines (``((``, ``//``, ``OOC:``) are stored, kept out of the
story prompt, and get no reply. Signal lines carry ``extra["signal"]``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tui.core.cards import Card
from tui.core.engine import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.formats import ChatFormat, PromptMessage, choose_format, get_format
from tui.core.lore import books_from
from tui.core.macros import expand
from tui.core.memory import Memory
from tui.core.memory_jobs import ChatMemory, Upkeep
from tui.core.models import is_default_model
from tui.core.personas import DEFAULT_NAME, PersonaError, PersonaProfile, get_persona
from tui.core.prompt import CharacterText, PersonaText, Prompt, PromptBuilder, SceneText, Turn
from tui.core.scene import (
    Participant,
    SceneSettings,
    boundaries_text,
    character_participant,
    is_ooc,
    is_safeword,
    load_scene_settings,
    next_speakers,
)
from tui.core.store import ChatInfo, Message, MessageNotFound, StoreError
from tui.core.workspace import NARRATOR_NAME, CardEntry, Workspace

E = TypeVar("E")


class SessionError(StoreError):
    """A chat operation that cannot be done now; ``str()`` is one clear line.

    (A ``StoreError`` so that every front end already shows it as one line.)
    """


class SessionBusy(SessionError):
    """A reply is still being generated in this session."""


class NothingToContinue(SessionError):
    """``continue_reply`` needs a character's reply as the last message."""


class ScenePausedError(SessionError):
    """The scene is paused (the safeword was used); nothing is generated
    until someone chooses to continue, change direction or end it."""


@dataclass(frozen=True)
class SpeakerStarted:
    """A group scene's next reply begins; ``name`` is who writes it."""

    name: str


@dataclass(frozen=True)
class ScenePaused:
    """The safeword was used (by ``by``): generation stopped, the scene is
    paused and a check-in is due (``Session.resume_scene``)."""

    by: str
    signal: str = "red"


@dataclass(frozen=True)
class SlowDown:
    """The slow-down word was used (by ``by``): recorded; the next reply is
    asked to slow down and check in."""

    by: str


RESUME_CHOICES = ("continue", "change", "end")

SLOW_DOWN_TEXT = (
    "{by} asked to slow down. In this reply, slow the scene down and check in gently "
    "with everyone: ask how they feel and whether to go on, change something or stop."
)
CHANGE_TEXT = "After a pause, the people chose to change direction. The scene now goes this way: {note}"
CHANGE_TEXT_NO_NOTE = (
    "After a pause, the people chose to change direction: steer the scene somewhere new, "
    "calmer and within everyone's boundaries."
)


def message_kind(message: Message) -> str:
    """Who wrote a message: ``"human"``, ``"character"``, ``"narrator"`` or
    ``"system"`` (signals and other notes)."""
    if message.role == "system":
        return "system"
    if message.role == "user":
        return "human"
    return "narrator" if message.extra.get("narrator") is True else "character"


def is_signal(message: Message) -> bool:
    """A recorded safeword, slow-down word or check-in choice."""
    return message.role == "system" and isinstance(message.extra.get("signal"), str)


def _story(msgs: Sequence[Message]) -> list[Message]:
    """What the story prompt sees: no signals, no out-of-character lines."""
    return [
        m for m in msgs
        if not is_signal(m) and not (m.role == "user" and (m.extra.get("ooc") is True or is_ooc(m.text)))
    ]


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class _LinkedEvent(threading.Event):
    """The cancel event of one reply: set on its own (the engine sets it when
    the reply ends) or through the caller's event, which it never sets, so one
    caller event can stop a run of several replies."""

    def __init__(self, parent: threading.Event | None) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        return super().is_set() or (self._parent is not None and self._parent.is_set())


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
    """One open chat. ``engine`` may be None for work that never runs the
    model (checks, the safeword, out-of-character lines, ``resume_scene``,
    a group's manual turns); see ``would_generate``."""

    def __init__(self, ws: Workspace, chat_id: str, engine: Engine | None) -> None:
        self.ws = ws
        self.engine = engine
        self.info: ChatInfo = ws.store.chat(chat_id)
        if not self.info.characters:
            raise SessionError(f"chat {chat_id!r} has no characters")
        self.characters: list[CardEntry] = [ws.card(slug) for slug in self.info.characters]
        self.character = self.characters[0]  # the first character (one-to-one callers)
        self.scene_settings: SceneSettings = load_scene_settings({"scene": self.info.scene})
        self.rng = random.Random()  # who speaks next under the "natural" policy
        self._format: ChatFormat | None = None
        self._generating = threading.Lock()
        self._state = threading.Lock()  # guards _pending and _running
        self._pending: list[Message] = []  # signals typed during a reply, written after it
        self._running: threading.Event | None = None  # the cancel event of the reply in progress
        self._halt = threading.Event()  # the safeword came during this generation
        self.mem = ChatMemory(self)

    @property
    def chat_id(self) -> str:
        return self.info.id

    @property
    def busy(self) -> bool:
        """True while a reply (or an impersonation) is being generated."""
        return self._generating.locked()

    # -- participants ---------------------------------------------------------

    @property
    def is_group(self) -> bool:
        """Several characters, several personas, or a narrator."""
        return (
            len(self.info.characters) > 1
            or len(self.info.personas) > 1
            or self.scene_settings.narrator
        )

    @property
    def narrator(self) -> str:
        """The narrator's name, or "" when the scene has none."""
        return NARRATOR_NAME if self.scene_settings.narrator else ""

    @property
    def personas(self) -> list[PersonaProfile]:
        """The people in this chat, in chat order, with their descriptions and
        limits from profile.toml (a persona no longer in the profile keeps
        its name, without description or limits). A one-to-one chat has the
        profile's current persona, as its prompt always had."""
        if not self.is_group:
            return [self._profile_persona(self.ws.persona().name)]
        return [self._profile_persona(name) for name in self.info.personas]

    @property
    def persona_names(self) -> list[str]:
        return [p.name for p in self.personas]

    @property
    def ai_names(self) -> list[str]:
        """Who can write a reply: the characters, then the narrator."""
        names = [e.card.display_name for e in self.characters]
        return names + ([self.narrator] if self.narrator else [])

    @property
    def participants(self) -> list[Participant]:
        """Everyone in the scene for ``tui.core.scene``: the people, the
        characters (talkativeness from their cards) and the narrator."""
        out: list[Participant] = []
        for p in self.personas:
            out.append(Participant(p.name, "human"))
        for e in self.characters:
            out.append(character_participant(e.card))
        if self.narrator:
            out.append(Participant(self.narrator, "narrator"))
        return out

    def persona_named(self, name: str) -> str:
        """The chat's persona called ``name`` (any case), or ``SessionError``
        naming the chat's personas."""
        allowed = self.persona_names
        if not self.is_group:
            allowed = list(dict.fromkeys([*allowed, *self.info.personas]))
        for p in allowed:
            if _key(p) == _key(name):
                return p
        raise SessionError(
            f"{' '.join(name.split())!r} is not a persona in this chat (personas: {', '.join(allowed)})"
        )

    def default_persona(self) -> str:
        """Who is typing when nobody says: the chat's first persona (in a
        one-to-one chat, the profile's persona)."""
        if self.is_group and self.info.personas:
            return self.personas[0].name
        return self.ws.persona().name

    def speaker_named(self, name: str) -> str:
        """The character (display name or slug, any case) or narrator called
        ``name``, or ``SessionError`` naming who can answer."""
        for e in self.characters:
            if _key(name) in (_key(e.card.display_name), _key(e.slug)):
                return e.card.display_name
        if self.narrator and _key(name) == _key(self.narrator):
            return self.narrator
        raise SessionError(
            f"{' '.join(name.split())!r} cannot answer in this chat (characters: {', '.join(self.ai_names)})"
        )

    def _profile_persona(self, name: str) -> PersonaProfile:
        try:
            return get_persona(self.ws.store, name, self.ws.config.chat.user_name)
        except PersonaError:
            pass
        try:
            return PersonaProfile(name)
        except PersonaError:
            return PersonaProfile(DEFAULT_NAME)

    def _who(self, speaker: str | None) -> str:
        """The persona typing: validated in a group; a one-to-one chat takes
        any name, as it always did."""
        if speaker is None or not speaker.strip():
            return self.default_persona()
        if self.is_group:
            return self.persona_named(speaker)
        return speaker

    # -- scene state -------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """The safeword paused the scene (read from chat.toml, so another
        process's pause counts too)."""
        return self.ws.store.chat(self.chat_id).scene.get("paused") is True

    @property
    def scene_ended(self) -> bool:
        return self.ws.store.chat(self.chat_id).scene.get("ended") is True

    def check_not_paused(self) -> None:
        """``ScenePausedError`` while the scene is paused or has ended."""
        scene = self.ws.store.chat(self.chat_id).scene
        if scene.get("ended") is True:
            raise ScenePausedError("this scene has ended; nothing more is generated (branch it or start a new chat)")
        if scene.get("paused") is True:
            by = scene.get("paused_by")
            who = f" by {by}" if isinstance(by, str) and by else ""
            raise ScenePausedError(
                f"the scene is paused (safeword{who}); choose to continue, change direction or end it first"
            )

    def _signal(self, who: str, signal: str, text: str, **extra: str) -> Message:
        msg = Message.new(who, "system", text)
        msg.extra.update(signal=signal, by=who, **extra)
        return msg

    def _slow_signal(self, who: str) -> Message:
        return self._signal(who, "yellow", f"{who} asked to slow down.")

    def _record(self, msg: Message) -> None:
        """Write a signal now, or after the reply being generated (so it
        follows the reply it interrupted). Call with ``_state`` held."""
        if self.busy:
            self._pending.append(msg)
        else:
            self.ws.store.append(self.chat_id, msg)

    def _flush_pending(self) -> None:
        with self._state:
            pending, self._pending = self._pending, []
            for msg in pending:
                self.ws.store.append(self.chat_id, msg)

    def interrupt(self, text: str, speaker: str | None = None) -> ScenePaused | SlowDown:
        """The safeword or slow-down word, typed while a reply may be streaming.

        Safeword: the running reply stops within one token (kept, marked
        stopped), the pause is recorded and nothing more is generated.
        Slow-down word: recorded; the next reply is asked to slow down.
        Anything else raises ``SessionError``."""
        who = self._who(speaker)
        settings = self.scene_settings
        if is_safeword(text, settings.safeword):
            msg = self._signal(
                who, "red",
                f"{who} used the safeword. The scene is paused until someone chooses to "
                "continue, change direction or end it.",
            )
            with self._state:
                self._halt.set()
                self.info = self.ws.store.update_scene(self.chat_id, paused=True, paused_by=who)
                if self._running is not None:
                    self._running.set()
                self._record(msg)
            return ScenePaused(who, "red")
        if is_safeword(text, settings.slowword):
            msg = self._slow_signal(who)
            with self._state:
                self._record(msg)
            return SlowDown(who)
        raise SessionError(
            f"only the safeword ({settings.safeword}) or the slow-down word ({settings.slowword}) "
            "can be sent while a reply is being written"
        )

    def resume_scene(self, choice: str, note: str = "", *, speaker: str | None = None) -> Message:
        """The check-in after a pause: ``continue``, ``change`` (``note`` is
        the new direction, given to the next reply) or ``end`` (the scene
        stays paused and is marked ended). Returns the recorded message."""
        if choice not in RESUME_CHOICES:
            raise SessionError(f"unknown choice {choice!r} (use one of {', '.join(RESUME_CHOICES)})")
        self._check_idle()
        if not self.paused:
            raise SessionError("the scene is not paused")
        if self.scene_ended:
            raise SessionError("this scene has ended; branch it or start a new chat to go on")
        who = self._who(speaker)
        note = " ".join(note.split())
        if choice == "continue":
            msg = self._signal(who, "continue", f"{who} chose to continue the scene.")
        elif choice == "change":
            text = f"{who} chose to change direction" + (f": {note}" if note else ".")
            msg = self._signal(who, "change", text, note=note)
        else:
            msg = self._signal(who, "end", f"{who} ended the scene.")
        with self._state:
            self.ws.store.append(self.chat_id, msg)
            if choice == "end":
                self.info = self.ws.store.update_scene(self.chat_id, ended=True)
            else:
                self.info = self.ws.store.update_scene(self.chat_id, paused=None, paused_by=None)
        return msg

    def _directions(self, msgs: Sequence[Message]) -> list[str]:
        """Scene instructions for the next reply: signals since the last reply."""
        tail: list[Message] = []
        for m in reversed(msgs):
            if m.role == "assistant":
                break
            tail.append(m)
        out: list[str] = []
        for m in reversed(tail):
            signal = m.extra.get("signal") if is_signal(m) else None
            by = m.extra.get("by") if isinstance(m.extra.get("by"), str) else m.speaker
            if signal == "yellow":
                out.append(SLOW_DOWN_TEXT.format(by=by))
            elif signal == "change":
                note = m.extra.get("note")
                out.append(CHANGE_TEXT.format(note=note) if isinstance(note, str) and note else CHANGE_TEXT_NO_NOTE)
        return list(dict.fromkeys(out))

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

    def build_prompt(self, speaker: str | None = None) -> Prompt:
        """The prompt for the next reply to the current history; in a group,
        ``speaker``'s (default: the next in turn after the last AI speaker)."""
        return self._prompt(self.messages(), speaker=self.speaker_named(speaker) if speaker else None)

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

    def classify(self, text: str) -> str:
        """What sending ``text`` would be: ``"safeword"``, ``"slowword"``,
        ``"ooc"`` (out of character) or ``"story"``."""
        settings = self.scene_settings
        if is_safeword(text, settings.safeword):
            return "safeword"
        if is_safeword(text, settings.slowword):
            return "slowword"
        if is_ooc(text):
            return "ooc"
        return "story"

    def would_generate(self, text: str) -> bool:
        """Whether ``send(text)`` would run the model (front ends load it only
        then). Raises ``ScenePausedError`` where ``send`` would."""
        kind = self.classify(text)
        if kind in ("safeword", "ooc"):
            return False
        self.check_not_paused()
        return not (self.is_group and self.scene_settings.policy == "manual")

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
        who = self._who(speaker)
        kind = self.classify(text)
        if kind == "safeword":
            return _Guarded(_events_of([self.interrupt(text, who)]), lambda: None)
        if kind == "ooc":
            self._check_idle()
            msg = Message.new(who, "user", text)
            msg.extra["ooc"] = True
            self.ws.store.append(self.chat_id, msg)
            return _Guarded(_events_of([]), lambda: None)
        self.check_not_paused()

        def start(release: Callable[[], None]) -> Iterator[Any]:
            lead: list[Any] = []
            if kind == "slowword":  # recorded before the reply, which it guides
                self.ws.store.append(self.chat_id, self._slow_signal(who))
                lead.append(SlowDown(who))
            else:
                self.ws.store.append(self.chat_id, Message.new(who, "user", text))
            msgs = self.messages()
            if not self.is_group:
                return self._replies([self.character.card.display_name], msgs, sampling, cancel, release, lead)
            names = next_speakers(self.participants, msgs, text, self.scene_settings, self.rng)
            return self._replies(names, msgs, sampling, cancel, release, lead)

        return self._start(start)

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
            return self._replies(self._next_names(msgs), msgs, sampling, cancel, release)

        return self._start(start)

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
            return self._replies([speaker], self.messages(), sampling, cancel, release, announce=True)

        return self._start(start)

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
                return self._replies(self._next_names(msgs), msgs, sampling, cancel, release)
            target = msgs[-1]
            prompt = self._prompt(msgs[:-1], speaker=target.speaker if self.is_group else None)

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
        """Extend the last reply where it ended (in a group, by its speaker).

        Chunks are the raw continuation (a leading space included), ready to
        be appended to the text on screen. The message's text (and chosen
        swipe) grows by what was generated; its metrics describe this run,
        with ``generated_tokens`` summed over all runs and ``continued``
        counting them.
        """
        self._check_idle()
        self.check_not_paused()
        msgs = self.messages()
        if not msgs or msgs[-1].role != "assistant" or not msgs[-1].text.strip():
            raise NothingToContinue("there is no reply to continue: the last message is not the character's")

        def start(release: Callable[[], None]) -> Iterator[Chunk | ReplyDone]:
            target = msgs[-1]
            existing = target.text.strip()
            fmt = _ContinueFormat(self.format, existing)
            prompt = self._prompt(msgs[:-1], fmt, speaker=target.speaker if self.is_group else None)

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
        speaker: str | None = None,
        sampling: Sampling | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Chunk | Impersonation]:
        """Draft the next line of ``speaker`` (default: the persona typing)
        with the model, for the composer.

        Ends with an ``Impersonation``; nothing is written to the chat.
        """
        self.check_not_paused()
        persona = self._who(speaker) if self.is_group else self.ws.persona().name

        def start(release: Callable[[], None]) -> Iterator[Chunk | Impersonation]:
            fmt = _PersonaFormat(self.format, persona, self.character.card.display_name)
            prompt = self._prompt(self.messages(), fmt, speaker=persona if self.is_group else None)
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
        self._halt.clear()
        guard = threading.Lock()
        released = False

        def release() -> None:
            nonlocal released
            with guard:
                if released:
                    return
                released = True
            with self._state:  # signals typed meanwhile follow the reply on disk
                try:
                    pending, self._pending = self._pending, []
                    for msg in pending:
                        self.ws.store.append(self.chat_id, msg)
                finally:
                    self._generating.release()

        try:
            return _Guarded(make(release), release)
        except BaseException:
            release()
            raise

    def _next_names(self, msgs: Sequence[Message]) -> list[str]:
        """Who answers now, without a new human line: in a group the policy
        on the last human line, else the next in turn; one-to-one: the
        character."""
        if not self.is_group:
            return [self.character.card.display_name]
        last_human = next((m.text for m in reversed(msgs) if m.role == "user"), "")
        names = next_speakers(self.participants, msgs, last_human, self.scene_settings, self.rng)
        return names or [self._next_in_turn(msgs)]

    def _next_in_turn(self, msgs: Sequence[Message]) -> str:
        turn = SceneSettings(policy="round_robin", narrator=self.scene_settings.narrator)
        names = next_speakers(self.participants, msgs, "", turn, self.rng)
        return names[0] if names else self.ai_names[0]

    def _replies(
        self,
        names: Sequence[str],
        msgs: Sequence[Message],
        sampling: Sampling | None,
        cancel: threading.Event | None,
        release: Callable[[], None],
        lead: Sequence[Any] = (),
        *,
        announce: bool | None = None,
    ) -> Iterator[Any]:
        """The replies of ``names`` in turn, each committed before the next
        starts. The first prompt is built now (errors surface at once)."""
        announce = self.is_group if announce is None else announce
        first = self._prompt(msgs, speaker=names[0] if self.is_group else None) if names else None
        return self._replies_events(list(names), first, sampling, cancel, release, list(lead), announce)

    def _replies_events(
        self,
        names: list[str],
        first: Prompt | None,
        sampling: Sampling | None,
        cancel: threading.Event | None,
        release: Callable[[], None],
        lead: list[Any],
        announce: bool,
    ) -> Iterator[Any]:
        yield from lead
        cancel = cancel or threading.Event()
        for i, name in enumerate(names):
            if cancel.is_set() or self._halt.is_set():
                break
            prompt = first if i == 0 and first is not None else self._prompt(
                self.messages(), speaker=name if self.is_group else None
            )
            if announce:
                yield SpeakerStarted(prompt.reply_name)
            last = i == len(names) - 1
            yield from self._stream(
                prompt,
                sampling,
                cancel,
                release if last else (lambda: None),
                lambda fin, prompt=prompt: ReplyDone(self._commit(prompt, fin), fin.reason),
            )
            self._flush_pending()
        release()
        if self._halt.is_set():
            by = self.ws.store.chat(self.chat_id).scene.get("paused_by")
            yield ScenePaused(by if isinstance(by, str) else "", "red")

    def _offer_greetings(self, msgs: list[Message]) -> None:
        if len(msgs) != 1:
            return
        m = msgs[0]
        card = self.character.card
        if m.role != "assistant" or m.speaker != card.display_name or "swipes" in m.extra:
            return
        if not card.alternate_greetings:
            return
        options = greeting_swipes(card, self.default_persona())
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

    def _prompt(
        self, msgs: Sequence[Message], fmt: ChatFormat | None = None, *, speaker: str | None = None
    ) -> Prompt:
        cfg = self.ws.config
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
        turns = [Turn(m.speaker, m.role, m.text) for m in _story(unfolded)]
        directions = self._directions(msgs)
        if not self.is_group:
            persona = self.ws.persona()
            speakers = [m.speaker for m in msgs if m.role == "user"]
            return builder.build(
                character_text(self.character),
                persona.name,
                persona.description,
                turns,
                other_names=speakers,
                books=self.ws.lorebooks(self.character),
                memory_text=memory_text,
                boundaries=boundaries_text(self.personas),
                directions=directions,
            )
        personas = self.personas
        typing = next((m.speaker for m in reversed(msgs) if m.role == "user"), "")
        scene = SceneText(
            characters=[character_text(e) for e in self.characters],
            personas=[PersonaText(p.name, p.description) for p in personas],
            speaker=speaker or self._next_in_turn(msgs),
            typing=typing,
            narrator=self.narrator,
            boundaries=boundaries_text(personas),
            directions=directions,
        )
        books = books_from(
            [*(e.card.character_book for e in self.characters), *(b for _slug, b in self.ws.standalone_books())]
        )
        speakers = [m.speaker for m in msgs if m.role in ("user", "assistant")]
        return builder.build_scene(scene, turns, other_names=speakers, books=books, memory_text=memory_text)

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
        return self._events(request, cancel, release, finish, lstrip, keep_partial)

    def _events(
        self,
        request: GenerationRequest,
        caller_cancel: threading.Event | None,
        release: Callable[[], None],
        finish: Callable[[Finished], E],
        lstrip: bool,
        keep_partial: bool,
    ) -> Iterator[Chunk | E]:
        cancel = _LinkedEvent(caller_cancel)
        with self._state:
            if self._halt.is_set():  # the safeword came before this reply began
                cancel.set()
            self._running = cancel
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
            with self._state:
                self._running = None
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
        if self.narrator and _key(prompt.reply_name) == _key(self.narrator):
            msg.extra["narrator"] = True
        self.ws.store.append(self.chat_id, msg)
        return msg


def _events_of(items: Sequence[Any]) -> Iterator[Any]:
    """A closable stream of events that are already known."""
    yield from items


def _status(fin: Finished) -> str:
    return "stopped" if fin.reason == "cancelled" else "ok"
