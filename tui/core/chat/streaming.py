"""How a chat session streams and commits replies, for ``tui.core.chat.session``.

One generation runs at a time per Session: ``ReplyStreaming._start`` claims
the session and wraps the stream in ``Guarded``, which frees it however the
stream ends (finished, failed, closed early or dropped). ``_events`` turns
the engine's stream into ``Chunk``s and one final event, keeping a partial
reply (marked stopped) when the stream is cut short; a safeword stops the
running reply through its ``LinkedEvent``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tui.core.engine.llama import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.prompt.builder import Prompt
from tui.core.chat.scene_state import name_key
from tui.core.chat.events import ReplyDone, ScenePaused, SessionBusy, SpeakerStarted
from tui.core.storage.model import Message
from tui.core.profile.workspace import Workspace

E = TypeVar("E")


class LinkedEvent(threading.Event):
    """The cancel event of one reply: set on its own (the engine sets it when
    the reply ends) or through the caller's event, which it never sets, so one
    caller event can stop a run of several replies."""

    def __init__(self, parent: threading.Event | None) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        return super().is_set() or (self._parent is not None and self._parent.is_set())


# --------------------------------------------------------------------------
# the one-generation-at-a-time guard


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


def reply_status(fin: Finished) -> str:
    return "stopped" if fin.reason == "cancelled" else "ok"


class ReplyStreaming:
    """Reply generation of a ``Session`` (a mixin: the Session owns the
    engine, the locks and the pending signals)."""

    ws: Workspace
    engine: Engine | None
    _generating: threading.Lock
    _state: threading.Lock
    _pending: list[Message]
    _running: threading.Event | None
    _halt: threading.Event

    if TYPE_CHECKING:  # provided by Session, SceneState and SessionPrompts

        @property
        def chat_id(self) -> str: ...

        @property
        def is_group(self) -> bool: ...

        @property
        def narrator(self) -> str: ...

        def messages(self) -> list[Message]: ...

        def _flush_pending(self) -> None: ...

        def _prompt(self, msgs: Sequence[Message], fmt: Any = None, *, speaker: str | None = None) -> Prompt: ...

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
            return Guarded(make(release), release)
        except BaseException:
            release()
            raise

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
        cancel = LinkedEvent(caller_cancel)
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
            status=reply_status(fin),
            metrics=dict(fin.metrics),
        )
        msg.extra["finish"] = fin.reason
        if self.narrator and name_key(prompt.reply_name) == name_key(self.narrator):
            msg.extra["narrator"] = True
        self.ws.store.append(self.chat_id, msg)
        return msg
