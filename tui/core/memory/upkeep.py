"""When and how one chat's memory is updated, and its cache kept warm:
``ChatMemory`` owns the recent window, the folds that keep it in budget
(``maintain``, ``catch_up``, ``resummarize``), warming the next prompt and
saving the KV cache. See docs/ARCHITECTURE.md, "The memory fold"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.core.config.schema import Config
from tui.core.engine.api import Engine
from tui.core.memory import kv_state
from tui.core.memory.document import Memory, load_memory, memory_path, memory_prompt_text, save_memory
from tui.core.memory.fold import FoldPlan, SummaryError, fold, plan_fold, summarize, window_start
from tui.core.prompt.parts import Prompt
from tui.core.storage.model import Message
from tui.core.storage.store import Store
from tui.core.storage.token_counts import TokenCounts, counts_for

MAX_FOLDS_PER_RUN = 4
BACKLOG_PAGE = 256         # oldest unfolded messages read at a time while catching up
EXACT_REEVAL_MAX_S = 3.0   # "auto": re-read the window exactly when it takes less than this
RECENT_STEP = 64             # messages read back at a time; the window's start moves in these
RECENT_WITHOUT_MODEL = 512   # the recent history when no model is loaded (no prompt is built)


def _foldable(m: Message) -> bool:
    """Summaries see what the story prompt would: no blank or hidden lines."""
    return bool(m.text.strip()) and m.extra.get("hidden") is not True


def progress_text(folded: int, total: int) -> str:
    """"memory: 1,240 of 48,000 messages summarized" (CLI and TUI alike)."""
    return f"memory: {folded:,} of {total:,} messages summarized"


def progress_bar(folded: int, total: int, width: int = 20) -> str:
    done = width if total <= 0 else min(width, folded * width // total)
    return "▕" + "█" * done + "░" * (width - done) + "▏"


@dataclass(frozen=True)
class Window:
    """The recent history: ``messages`` from position ``start`` to the end;
    ``floor`` is the position of the first message not folded into memory."""

    messages: list[Message]
    start: int
    floor: int


@dataclass
class Upkeep:
    """What one ``maintain()`` run did."""

    folds: int = 0
    failed: str = ""                       # why a fold did not happen ("" = fine)
    warm: dict[str, Any] = field(default_factory=dict)


class ChatMemory:
    """The memory of one chat and the upkeep that keeps it current.
    Collaborators: the store and chat id, the engine (None: no model), the
    config, how to build the next prompt, and who the chat is between
    (``speakers() -> (character, persona)``)."""

    def __init__(
        self,
        store: Store,
        chat_id: str,
        engine: Engine | None,
        config: Config,
        *,
        build_prompt: Callable[[], Prompt],
        speakers: Callable[[], tuple[str, str]],
    ) -> None:
        self.store = store
        self.chat_id = chat_id
        self.engine = engine
        self.config = config
        self._build_prompt = build_prompt
        self._speakers = speakers
        self._busy = threading.Lock()
        self.last: Upkeep | None = None

    @property
    def chat_dir(self) -> Path:
        return self.store.chat_dir(self.chat_id)

    def _engine(self) -> Engine:
        assert self.engine is not None, "memory upkeep needs an engine"
        return self.engine

    def _counts(self) -> TokenCounts:
        return counts_for(self._engine())

    def window(self) -> Window:
        """Every message not yet folded into memory, but never more than the
        context could hold (read back from the end until the messages hold
        more than ``n_ctx`` tokens, from a start aligned to the prompt's
        chunks). The whole chat while it is short. Cost: O(window)."""
        store, chat_id = self.store, self.chat_id
        total = store.count(chat_id)
        floor = self.unfolded_start()
        start = total
        if self.engine is None:
            start = max(floor, total - RECENT_WITHOUT_MODEL)
        else:
            counts = self._counts()
            room = self.engine.info.n_ctx
            held = 0
            while start > floor and held <= room:
                lo = max(floor, start - RECENT_STEP)
                held += sum(counts.message(m) for m in store.page(chat_id, lo, start))
                start = lo
        if start > floor:  # move the start in whole chunks, so the prompt's cut stays put
            start = floor + (start - floor) // RECENT_STEP * RECENT_STEP
        return Window(store.page(chat_id, start, total), start, floor)

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    # -- reading and editing (the Memory screen) -------------------------------
    def memory(self) -> Memory:
        return load_memory(self.chat_dir)

    def save(self, m: Memory) -> None:
        save_memory(self.chat_dir, m)

    # -- budgets ---------------------------------------------------------------
    def memory_budget(self, n_ctx: int) -> int:
        return self.config.prompt.memory_budget or max(32, n_ctx // 8)

    def volatile_budget(self, n_ctx: int) -> int:
        return self.config.prompt.volatile_budget or max(16, n_ctx // 16)

    def prompt_parts(self, msgs: list[Message], count: Callable[[str], int]) -> tuple[str, list[Message]]:
        """Memory text for the prompt and the messages not folded yet."""
        n_ctx = self._engine().info.n_ctx
        if not self.config.memory.enabled:
            return "", msgs
        m = self.memory()
        start = window_start([x.id for x in msgs], m.folded_upto)
        text = memory_prompt_text(m, self.memory_budget(n_ctx), count)
        return text, msgs[start:]

    def window_budget(self, prompt: Prompt) -> int:
        cfg = self.config.prompt
        if cfg.window_budget:
            return cfg.window_budget
        n_ctx = self._engine().info.n_ctx
        fixed = prompt.section_tokens("system") + prompt.section_tokens("examples")
        rest = prompt.budget - fixed - self.memory_budget(n_ctx) - self.volatile_budget(n_ctx)
        return max(64, rest)

    def unfolded_start(self) -> int:
        """Position in the chat of the first message not folded into memory
        (0 with memory off, nothing folded, or the fold point deleted)."""
        if not self.config.memory.enabled:
            return 0
        upto = self.memory().folded_upto
        if not upto:
            return 0
        pos = self.store.position(self.chat_id, upto)
        return 0 if pos is None else pos + 1

    def progress(self) -> tuple[int, int]:
        """(messages folded into memory, messages in the chat)."""
        return self.unfolded_start(), self.store.count(self.chat_id)

    def plan(self) -> tuple[FoldPlan, list[Message]] | None:
        """The next fold and the unfolded messages it is planned from (None:
        memory is off or there is nothing to fold)."""
        if not self.config.memory.enabled:
            return None
        w = self.window()
        msgs = [m for m in w.messages if _foldable(m)]
        floor = w.floor
        m = self.memory()
        unfolded = msgs[window_start([x.id for x in msgs], m.folded_upto):]
        backlog = w.start > floor
        if backlog:
            # a backlog (an import, memory turned on late): the oldest unfolded
            # messages lie before the recent ones; fold from there, oldest first,
            # in chunks as big as the summary prompt allows (fewer model calls)
            head = self.store.page(self.chat_id, floor, min(w.start, floor + BACKLOG_PAGE))
            unfolded = [x for x in head if _foldable(x)] + unfolded
        if len(unfolded) < 3:
            return None
        prompt = self._build_prompt()
        count = self._counts()
        tokens = [count.message(x) for x in unfolded]
        n_ctx = self._engine().info.n_ctx
        planned = plan_fold(
            [x.id for x in unfolded],
            tokens,
            self.window_budget(prompt),
            1.0 if backlog else self.config.memory.fold_fraction,
            max_chunk_tokens=max(64, n_ctx * 3 // 8),  # template + story so far + chunk fit
        )
        return None if planned is None else (planned, unfolded)

    # -- the background work ----------------------------------------------------
    def maintain(self, cancel: threading.Event | None = None, *, warm: bool = True) -> Upkeep:
        """Fold while over budget, then pre-evaluate the next prompt."""
        return self._exclusive(lambda out: self._maintain(out, cancel, warm))

    def _exclusive(self, work: Callable[[Upkeep], None]) -> Upkeep:
        """Run one memory job at a time; a second one reports and returns."""
        out = Upkeep()
        if not self._busy.acquire(blocking=False):
            out.failed = "memory is already being updated"
            return out
        try:
            work(out)
        finally:
            self._busy.release()
        self.last = out
        return out

    def behind(self) -> bool:
        """True when more than the window is waiting to be folded (a backlog)."""
        if not self.config.memory.enabled:
            return False
        w = self.window()
        return w.start > w.floor

    def catch_up(
        self,
        cancel: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
        *,
        max_folds: int | None = None,
    ) -> Upkeep:
        """Fold until the window fits (however long the backlog), oldest
        first; each fold is saved as it completes, so stopping (``cancel``,
        a reply preempting it, quitting) keeps what was done and the next run
        goes on from there. ``progress(folded, total)`` after each fold."""
        return self._exclusive(lambda out: self._maintain(out, cancel, True, max_folds, progress))

    def _maintain(
        self,
        out: Upkeep,
        cancel: threading.Event | None,
        warm: bool,
        max_folds: int | None = MAX_FOLDS_PER_RUN,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        while max_folds is None or out.folds < max_folds:
            planned = self.plan()
            if planned is None:
                break
            plan, unfolded = planned
            ids = set(plan.ids)
            chunk = [x for x in unfolded if x.id in ids]
            try:
                fold(self._engine(), self.chat_dir, chunk, *self._speakers(), cancel=cancel)
            except SummaryError as exc:
                out.failed = str(exc)
                break
            out.folds += 1
            if progress is not None:
                progress(*self.progress())
            if cancel is not None and cancel.is_set():
                break
        if warm and out.folds and not (cancel is not None and cancel.is_set()):
            out.warm = self.warm(cancel)

    def resummarize(self, cancel: threading.Event | None = None) -> Upkeep:
        """Write the summary of everything folded so far again, chunk by chunk.

        The new memory is built aside and saved in one write at the end
        (pinned text and every fact kept); if it is cancelled, fails, or
        memory.md is edited meanwhile, the old memory stays as it was."""
        return self._exclusive(lambda out: self._resummarize(out, cancel))

    def _resummarize(self, out: Upkeep, cancel: threading.Event | None) -> None:
        path = memory_path(self.chat_dir)
        before = path.read_text(encoding="utf-8") if path.exists() else None
        old = self.memory()
        history, _report = self.store.messages(self.chat_id)
        msgs = [m for m in history if m.text.strip()]
        folded = msgs[: window_start([x.id for x in msgs], old.folded_upto)]
        if not folded:
            out.failed = "nothing has been folded into memory yet"
            return
        count = self._counts()
        n_ctx = self._engine().info.n_ctx
        limit = max(64, int(self.window_budget(self._build_prompt()) * self.config.memory.fold_fraction))
        limit = min(limit, max(64, n_ctx * 3 // 8))
        new = Memory(pinned_summary=old.pinned_summary, facts=list(old.facts))
        chunk: list[Message] = []
        size = 0
        try:
            for i, msg in enumerate(folded):
                chunk.append(msg)
                size += count.message(msg)
                if size >= limit or i == len(folded) - 1:
                    new = summarize(self._engine(), new, chunk, *self._speakers(), cancel=cancel)
                    out.folds += 1
                    chunk, size = [], 0
        except SummaryError as exc:
            out.failed = str(exc)
            return
        now = path.read_text(encoding="utf-8") if path.exists() else None
        if now != before:
            out.failed = "memory.md was edited meanwhile; the new summary was not saved"
            return
        save_memory(self.chat_dir, new)

    def warm(self, cancel: threading.Event | None = None) -> dict[str, Any]:
        """Pre-evaluate the next prompt. ``[memory] context_shift``: "off"
        re-reads exactly, "on" shifts, "auto" re-reads exactly when that is
        estimated under ``EXACT_REEVAL_MAX_S`` and shifts otherwise (measured:
        shifting keeps the likeliest next token but drifts; see the README)."""
        engine = self._engine()
        tokens = self._build_prompt().tokens
        mode = self.config.memory.context_shift
        shift = mode == "on"
        if mode == "auto":
            est = engine.reeval_seconds(tokens)
            shift = est is not None and est > EXACT_REEVAL_MAX_S
        out = engine.warm(tokens, cancel, shift=shift)
        out["mode"] = "shift" if shift else "exact"
        return out

    # -- resume -------------------------------------------------------------------
    def save_cache(self) -> int:
        """Save the engine's cache for this chat, cut back first to what the
        chat's next prompt starts with: tokens of deleted or edited messages,
        of a rehearsal or ideas prompt, are never written to its folder."""
        cfg = self.config.memory
        engine = self._engine()
        if not self.chat_dir.is_dir():
            return 0  # deleted meanwhile: nothing to save it in (and no orphan folder)
        if not cfg.save_state or engine.keep_prefix(self._build_prompt().tokens) == 0:
            kv_state.discard(self.chat_dir)
            return 0
        with self.store.writing():
            if not self.chat_dir.is_dir():
                return 0
            return kv_state.save(engine, self.chat_dir, cfg.state_max_mb << 20)

    def discard_cache(self) -> None:
        """Drop the saved cache: the history it was made from has changed."""
        kv_state.discard(self.chat_dir)

    def restore_cache(self) -> int:
        if not self.config.memory.save_state:
            return 0
        return kv_state.restore(self._engine(), self.chat_dir)
