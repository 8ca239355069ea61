"""The chat screen's memory work: the KV cache kept between visits (restored
and warmed when the model is ready, saved on leaving) and the background
fold of old messages into memory, with its progress in the status bar."""

from __future__ import annotations

import threading

from textual import work

from tui.core import progress_bar, progress_text
from tui.ui.screens.chat_window import MessageWindow
from tui.ui.widgets.status_bar import StatusBar


class ChatMemoryWork(MessageWindow):
    """Cache and memory upkeep; ``ChatScreen`` is built on it."""

    def __init__(self) -> None:
        super().__init__()
        self.memory_cancel: threading.Event | None = None
        self._resumed = False
        self._cache_saved = False

    def save_cache(self) -> None:
        """Keep the chat's KV cache on disk so reopening it answers fast."""
        if self.session is not None and self.session.ws.locked:
            return  # an encrypted profile locked meanwhile: nothing can be written
        if self.session is not None and not self._cache_saved:
            self._cache_saved = True
            try:
                self.session.save_cache()
            except Exception:  # noqa: BLE001 - only a cache; never block leaving
                pass

    def model_state_changed(self, text: str) -> None:
        status = self.query_one(StatusBar)
        status.model_state = text
        if self.app.engine is not None:
            status.n_ctx = self.app.engine.info.n_ctx
            if self._session() is not None and not self._resumed:
                self._resumed = True
                self._resume()

    @work(thread=True, exclusive=True, group="memory", exit_on_error=False)
    def _resume(self) -> None:
        """Restore the saved cache, then bring it up to date in the background."""
        session = self.session
        if session is None:
            return
        try:
            if session.restore_cache() == 0:
                pass  # nothing saved: the first reply reads the prompt
            session.warm()
        except Exception:  # noqa: BLE001 - only a cache
            pass
        try:
            behind = session.memory_behind()
        except Exception:  # noqa: BLE001 - memory is checked again after the next reply
            behind = False
        if behind and not self.closed:
            self.app.call_from_thread(self._upkeep)  # a backlog: catch up in the background

    @work(thread=True, exclusive=True, group="memory", exit_on_error=False)
    def _upkeep(self) -> None:
        """Fold old messages into memory while the window is over budget: after
        a reply, and on opening a chat with a backlog (an import), oldest
        first, each fold saved as it is done. A reply preempts it; the next
        reply's upkeep goes on from there."""
        session = self.session
        if session is None or self.closed:
            return
        if not session.memory_due():
            return
        self.memory_cancel = cancel = threading.Event()

        def progress(folded: int, total: int) -> None:
            if not self.closed:
                self.app.call_from_thread(
                    self._memory_state, f"{progress_text(folded, total)} {progress_bar(folded, total)}"
                )

        self.app.call_from_thread(self._memory_state, "updating memory…")
        try:
            up = session.catch_up_memory(cancel, progress)
        except Exception as exc:  # noqa: BLE001 - the old memory stays
            up = None
            self.app.call_from_thread(self.notify, f"Memory was not updated: {exc}", markup=False)
        finally:
            if not self.closed:
                self.app.call_from_thread(self._memory_state, "")
        if up is not None and up.failed and "reply came first" not in up.failed:
            self.app.call_from_thread(self.notify, f"Memory was not updated: {up.failed}", markup=False)

    def _memory_state(self, text: str) -> None:
        self.query_one(StatusBar).memory = text

    def action_memory(self) -> None:
        from tui.ui.screens.memory import MemoryScreen

        session = self._session()
        if session is None:
            self.notify("The model is still loading.", markup=False)
            return
        self.app.push_screen(MemoryScreen(session, chat_title=self.title or ""))
