"""How a chat streams and commits replies: ``ReplyGuard`` (one generation at
a time, the signals typed meanwhile, the safeword's halt) and ``ReplyRunner``
(the replies of a turn, each committed as it ends). See docs/ARCHITECTURE.md,
"The chat turn"."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

from tui.core.chat.events import ReplyDone, ScenePaused, SessionBusy, SpeakerStarted
from tui.core.engine.api import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.engine.cancel import LinkedEvent
from tui.core.prompt.formats import ChatFormat
from tui.core.prompt.parts import Prompt
from tui.core.storage.model import Message, Status
from tui.core.storage.store import Store

E = TypeVar("E")


class Guarded(Generic[E]):
    """The iterator a streaming method returns: it frees the session when the
    stream ends, fails, is closed, or is dropped without being started."""

    def __init__(self, gen: Iterator[E], release: Callable[[], None]) -> None:
        self._gen = gen
        self._release = release

    def __iter__(self) -> Guarded[E]:
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


def events_of(items: Sequence[Any]) -> Iterator[Any]:
    """A closable stream of events that are already known."""
    yield from items


def reply_status(fin: Finished) -> Status:
    return "stopped" if fin.reason == "cancelled" else "ok"


class ReplyGuard:
    """One generation at a time for one chat. ``lock`` guards the pending
    signals and the running reply; hold it while the scene's state changes
    (``record``, ``halt``)."""

    def __init__(self, store: Store, chat_id: str) -> None:
        self._store = store
        self._chat_id = chat_id
        self._generating = threading.Lock()
        self.lock = threading.Lock()
        self._pending: list[Message] = []  # signals typed during a reply, written after it
        self._running: threading.Event | None = None  # the cancel event of the reply in progress
        self._halt = threading.Event()  # the safeword came during this generation

    @property
    def busy(self) -> bool:
        """True while a reply (or an impersonation) is being generated."""
        return self._generating.locked()

    @property
    def halted(self) -> bool:
        return self._halt.is_set()

    def check_idle(self) -> None:
        if self.busy:
            raise SessionBusy("a reply is still being generated; stop it first")

    def halt(self) -> None:
        """The safeword: stop the running reply and everything after it in
        this generation. Call with ``lock`` held."""
        self._halt.set()
        if self._running is not None:
            self._running.set()

    def record(self, msg: Message) -> None:
        """Write a signal now, or after the reply being generated (so it
        follows the reply it interrupted). Call with ``lock`` held."""
        if self.busy:
            self._pending.append(msg)
        else:
            self._store.append(self._chat_id, msg)

    def flush_pending(self) -> None:
        with self.lock:
            pending, self._pending = self._pending, []
            for msg in pending:
                self._store.append(self._chat_id, msg)

    def start(self, make: Callable[[Callable[[], None]], Iterator[E]]) -> Iterator[E]:
        """Claim the chat for one generation and build its stream."""
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
            with self.lock:  # signals typed meanwhile follow the reply on disk
                try:
                    pending, self._pending = self._pending, []
                    for msg in pending:
                        self._store.append(self._chat_id, msg)
                finally:
                    self._generating.release()

        try:
            return Guarded(make(release), release)
        except BaseException:
            release()
            raise

    def events(
        self,
        engine: Engine,
        request: GenerationRequest,
        caller_cancel: threading.Event | None,
        release: Callable[[], None],
        finish: Callable[[Finished], E],
        lstrip: bool,
        keep_partial: bool,
    ) -> Iterator[Chunk | E]:
        """The engine's stream as ``Chunk``s and ``finish``'s final event,
        keeping a partial reply (marked stopped) when it is cut short."""
        cancel = LinkedEvent(caller_cancel)
        with self.lock:
            if self._halt.is_set():  # the safeword came before this reply began
                cancel.set()
            self._running = cancel
        events = engine.stream(request, cancel)
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
            with self.lock:
                self._running = None
            if not completed:
                # Interrupted (Ctrl+C, the consumer went away, an engine
                # error): stop the engine and keep what was generated so far.
                cancel.set()
                try:
                    finished = next((e for e in events if isinstance(e, Finished)), None)
                except Exception:  # noqa: BLE001 - the original error wins
                    finished = None
                events.close()  # type: ignore[attr-defined]
                if keep_partial and (shown.strip() or (finished and finished.text.strip())):
                    text = finished.text if finished else shown
                    metrics = finished.metrics if finished else {}
                    finish(Finished(text, "cancelled", metrics))
        if finished is None:  # the engine ended without a verdict
            finished = Finished(shown, "cancelled", {})
        result = finish(finished)
        release()
        yield result


def _nothing() -> None:
    pass


class BuildPrompt(Protocol):
    def __call__(
        self, msgs: Sequence[Message], fmt: ChatFormat | None = None, *, speaker: str | None = None
    ) -> Prompt: ...


class ReplyRunner:
    """The replies of one turn, in order, each committed before the next
    starts. Collaborators: the chat's store, its engine and guard, how to
    build a prompt and read the recent messages, and what marks a narrator."""

    def __init__(
        self,
        store: Store,
        chat_id: str,
        engine: Engine | None,
        guard: ReplyGuard,
        *,
        build: BuildPrompt,
        recent: Callable[[], list[Message]],
        sampling: Callable[[], Sampling],
        is_group: Callable[[], bool],
        is_narrator: Callable[[str], bool],
    ) -> None:
        self._store = store
        self._chat_id = chat_id
        self._engine = engine
        self._guard = guard
        self._build = build
        self._recent = recent
        self._sampling = sampling
        self._is_group = is_group
        self._is_narrator = is_narrator

    def replies(
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
        """The replies of ``names`` in turn. The first prompt is built now
        (errors surface at once)."""
        group = self._is_group()
        announce = group if announce is None else announce
        first = self._build(msgs, speaker=names[0] if group else None) if names else None
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
        group = self._is_group()
        for i, name in enumerate(names):
            if cancel.is_set() or self._guard.halted:
                break
            prompt = first if i == 0 and first is not None else self._build(
                self._recent(), speaker=name if group else None
            )
            if announce:
                yield SpeakerStarted(prompt.reply_name)
            last = i == len(names) - 1

            def done(fin: Finished, prompt: Prompt = prompt) -> ReplyDone:
                return ReplyDone(self._commit(prompt, fin), fin.reason)

            yield from self.stream(prompt, sampling, cancel, release if last else _nothing, done)
            self._guard.flush_pending()
        release()
        if self._guard.halted:
            by = self._store.chat(self._chat_id).scene.get("paused_by")
            yield ScenePaused(by if isinstance(by, str) else "", "red")

    def stream(
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
        assert self._engine is not None, "generating needs an engine"
        request = GenerationRequest(
            tokens=prompt.tokens,
            sampling=sampling or self._sampling(),
            stop=prompt.stop,
        )
        return self._guard.events(self._engine, request, cancel, release, finish, lstrip, keep_partial)

    def _commit(self, prompt: Prompt, fin: Finished) -> Message:
        msg = Message.new(
            prompt.reply_name,
            "assistant",
            fin.text.strip(),
            status=reply_status(fin),
            metrics=dict(fin.metrics),
        )
        msg.extra["finish"] = fin.reason
        if self._is_narrator(prompt.reply_name):
            msg.extra["narrator"] = True
        self._store.append(self._chat_id, msg)
        return msg
