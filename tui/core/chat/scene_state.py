"""The people and the scene state of one chat: who is in it and may speak,
what a typed line is, the safeword's pause and the check-in that ends it,
and the directions signals give the next reply. See docs/ARCHITECTURE.md,
"The chat turn"."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import get_args

from tui.core.chat.events import (
    LineKind,
    ResumeChoice,
    ScenePaused,
    ScenePausedError,
    SessionError,
    SlowDown,
    is_signal,
)
from tui.core.chat.streaming import ReplyGuard
from tui.core.profile.personas import DEFAULT_NAME, PersonaError, PersonaProfile, get_persona
from tui.core.profile.workspace import NARRATOR_NAME, CardEntry, Workspace
from tui.core.scene.rules import (
    Participant,
    SceneSettings,
    character_participant,
    is_ooc,
    is_safeword,
    load_scene_settings,
    next_speakers,
)
from tui.core.storage.model import ChatInfo, Message

RESUME_CHOICES: tuple[ResumeChoice, ...] = get_args(ResumeChoice)

SLOW_DOWN_TEXT = (
    "{by} asked to slow down. In this reply, slow the scene down and check in gently "
    "with everyone: ask how they feel and whether to go on, change something or stop."
)
CHANGE_TEXT = "After a pause, the people chose to change direction. The scene now goes this way: {note}"
CHANGE_TEXT_NO_NOTE = (
    "After a pause, the people chose to change direction: steer the scene somewhere new, "
    "calmer and within everyone's boundaries."
)


def story_messages(msgs: Sequence[Message]) -> list[Message]:
    """What the story prompt sees: no signals, no out-of-character lines, no
    hidden lines (SillyTavern's ``is_system``, kept by an import)."""
    return [
        m for m in msgs
        if not is_signal(m) and m.extra.get("hidden") is not True
        and not (m.role == "user" and (m.extra.get("ooc") is True or is_ooc(m.text)))
    ]


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class SceneState:
    """Participants and scene state of one chat. It owns the chat's
    ``info`` (the pause changes it), its characters and scene settings; the
    ``guard`` says whether a reply is running and records signals."""

    def __init__(self, ws: Workspace, info: ChatInfo, guard: ReplyGuard) -> None:
        self.ws = ws
        self.info = info
        self.guard = guard
        self.characters: list[CardEntry] = [ws.card(slug) for slug in info.characters]
        self.character = self.characters[0]  # the first character (one-to-one callers)
        self.scene_settings: SceneSettings = load_scene_settings({"scene": info.scene})
        self.rng = random.Random()  # who speaks next under the "natural" policy

    @property
    def chat_id(self) -> str:
        return self.info.id

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
        """Everyone in the scene for ``tui.core.scene.rules``: the people, the
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
            if name_key(p) == name_key(name):
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
            if name_key(name) in (name_key(e.card.display_name), name_key(e.slug)):
                return e.card.display_name
        if self.narrator and name_key(name) == name_key(self.narrator):
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

    def who(self, speaker: str | None) -> str:
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

    def slow_signal(self, who: str) -> Message:
        return self._signal(who, "yellow", f"{who} asked to slow down.")

    def interrupt(self, text: str, speaker: str | None = None) -> ScenePaused | SlowDown:
        """The safeword or slow-down word, typed while a reply may be streaming.

        Safeword: the running reply stops within one token (kept, marked
        stopped), the pause is recorded and nothing more is generated.
        Slow-down word: recorded; the next reply is asked to slow down.
        Anything else raises ``SessionError``."""
        who = self.who(speaker)
        settings = self.scene_settings
        if is_safeword(text, settings.safeword):
            msg = self._signal(
                who, "red",
                f"{who} used the safeword. The scene is paused until someone chooses to "
                "continue, change direction or end it.",
            )
            with self.guard.lock:
                self.guard.halt()
                self.info = self.ws.store.update_scene(self.chat_id, paused=True, paused_by=who)
                self.guard.record(msg)
            return ScenePaused(who, "red")
        if is_safeword(text, settings.slowword):
            msg = self.slow_signal(who)
            with self.guard.lock:
                self.guard.record(msg)
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
        self.guard.check_idle()
        if not self.paused:
            raise SessionError("the scene is not paused")
        if self.scene_ended:
            raise SessionError("this scene has ended; branch it or start a new chat to go on")
        who = self.who(speaker)
        note = " ".join(note.split())
        if choice == "continue":
            msg = self._signal(who, "continue", f"{who} chose to continue the scene.")
        elif choice == "change":
            text = f"{who} chose to change direction" + (f": {note}" if note else ".")
            msg = self._signal(who, "change", text, note=note)
        else:
            msg = self._signal(who, "end", f"{who} ended the scene.")
        with self.guard.lock:
            self.ws.store.append(self.chat_id, msg)
            if choice == "end":
                self.info = self.ws.store.update_scene(self.chat_id, ended=True)
            else:
                self.info = self.ws.store.update_scene(self.chat_id, paused=None, paused_by=None)
        return msg

    def directions(self, msgs: Sequence[Message]) -> list[str]:
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

    # -- what a line is, and who answers it ----------------------------------------

    def classify(self, text: str) -> LineKind:
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

    def next_names(self, msgs: Sequence[Message]) -> list[str]:
        """Who answers now, without a new human line: in a group the policy
        on the last human line, else the next in turn; one-to-one: the
        character."""
        if not self.is_group:
            return [self.character.card.display_name]
        last_human = next((m.text for m in reversed(msgs) if m.role == "user"), "")
        names = next_speakers(self.participants, msgs, last_human, self.scene_settings, self.rng)
        return names or [self.next_in_turn(msgs)]

    def next_in_turn(self, msgs: Sequence[Message]) -> str:
        turn = SceneSettings(policy="round_robin", narrator=self.scene_settings.narrator)
        names = next_speakers(self.participants, msgs, "", turn, self.rng)
        return names[0] if names else self.ai_names[0]
