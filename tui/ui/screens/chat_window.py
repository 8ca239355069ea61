"""The chat screen's window onto the chat: only a page or a few of it is
mounted, whatever its length; and search over the whole chat.

``self.first`` is the position of the first mounted message, ``self.at_end``
whether the window reaches the chat's last message. Scrolling to an edge
(or Page Up/Home/End on a message) loads the next page there and drops
pages far away, so at most MAX_MOUNTED message widgets exist.
"""

from __future__ import annotations

import asyncio

from textual.containers import VerticalScroll

from tui.core import Message as StoredMessage
from tui.core import is_ooc
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.checkin import SceneControls
from tui.ui.widgets.composer import Composer
from tui.ui.widgets.message_view import MessageView

FIRST_PAGE = 20     # messages mounted when a chat opens (more than a screenful)
PAGE = 40           # messages mounted at a time when scrolling further
MAX_MOUNTED = 120   # message widgets at most, whatever the chat's length


class MessageWindow(SceneControls):
    """The mounted window and search; ``ChatScreen`` is built on it."""

    def __init__(self) -> None:
        super().__init__()
        self._search: tuple[str, int] = ("", -1)
        self.first = 0  # position in the chat of the first mounted message
        self.at_end = True  # the mounted window reaches the chat's last message
        self._loading = False  # a page is being mounted
        self._hits: list[int] = []  # positions of the last search's matches

    def _decorated(self, view: MessageView) -> MessageView:
        """Out-of-character lines: dimmed, labelled OOC (before mounting)."""
        if is_ooc(view.text):
            view.add_class("ooc")
            view.speaker = f"{view.speaker} · OOC"
        return view

    # -- the virtual message list ------------------------------------------------
    # Only a window of the chat is mounted: ``self.first`` is the position of
    # the first mounted message, ``self.at_end`` whether the window reaches the
    # chat's last message. Scrolling to an edge (or Page Up/Home/End on a
    # message) loads the next page there and drops pages far away, so at most
    # MAX_MOUNTED message widgets exist whatever the chat's length.

    def _views_of(self, msgs: list[StoredMessage]) -> list[MessageView]:
        return [self._decorated(MessageView.of(m)) for m in msgs]

    def _stored_views(self) -> list[MessageView]:
        """Mounted views that mirror stored messages (not a line being sent)."""
        return [v for v in self._views() if v.msg_id is not None]

    async def _show_range(self, start: int, stop: int, *, focus: int | None = None) -> None:
        """Mount messages ``start``..``stop`` (positions) and nothing else."""
        ws = self.app.ws
        total = ws.message_count(self.chat_id)
        start, stop = max(0, start), min(total, stop)
        session = self._session()
        if session is not None and total <= 1:
            msgs = session.messages()  # includes offered greeting swipes
        else:
            msgs = ws.page(self.chat_id, start, stop)
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            if focus is not None or stop < total:
                box.anchor(False)  # a page in the middle is not drawn at the bottom first
            await box.remove_children()
            self.first = start
            self.at_end = stop >= total
            await box.mount_all(self._views_of(msgs))
        finally:
            self._loading = False
        self._mark_last_swipes()
        if focus is not None:
            views = self._views()
            i = focus - start
            if 0 <= i < len(views):
                views[i].focus()
                self.call_after_refresh(views[i].scroll_visible, animate=False, top=True)
        elif self.at_end:
            box.anchor()
        else:
            self.call_after_refresh(box.scroll_home, animate=False)

    async def _show_end(self) -> None:
        """The chat's last page, scrolled to the bottom (what opening shows)."""
        total = self.app.ws.message_count(self.chat_id)
        await self._show_range(total - FIRST_PAGE, total)

    async def _to_end(self) -> None:
        """Before anything is added at the end: the window must reach it."""
        if not self.at_end:
            await self._show_end()

    def _scrolled(self, old: float, new: float) -> None:
        if self._loading or self.closed:
            return
        box = self.query_one("#messages", VerticalScroll)
        if new <= 0 and self.first > 0:
            self.run_worker(self._load_older(), group="pages", exclusive=True)
        elif new >= box.max_scroll_y and not self.at_end and self.busy is None:
            self.run_worker(self._load_newer(), group="pages", exclusive=True)

    async def _load_older(self) -> bool:
        """Mount the page before the first mounted message, keeping what is
        on screen where it was; drop pages far below. False at the start."""
        if self.first <= 0 or self._loading:
            return False
        ws = self.app.ws
        lo = max(0, self.first - PAGE)
        msgs = ws.page(self.chat_id, lo, self.first)
        if not msgs:
            return False
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            views = self._views()
            new = self._views_of(msgs)
            before_y, before_h = box.scroll_y, box.virtual_size.height
            if views:
                await box.mount_all(new, before=views[0])
            else:
                await box.mount_all(new)
            self.first = lo
            await self._settle()
            box.scroll_to(y=before_y + (box.virtual_size.height - before_h), animate=False, immediate=True)
            await self._trim(keep_top=True)
        finally:
            self._loading = False
        return True

    async def _load_newer(self) -> bool:
        """Mount the page after the last mounted message; drop pages far above."""
        if self.at_end or self._loading:
            return False
        ws = self.app.ws
        total = ws.message_count(self.chat_id)
        stored = self._stored_views()
        end = self.first + len(stored)
        msgs = ws.page(self.chat_id, end, end + PAGE)
        box = self.query_one("#messages", VerticalScroll)
        self._loading = True
        try:
            await box.mount_all(self._views_of(msgs))
            self.at_end = end + len(msgs) >= total
            await self._trim(keep_top=False)
            self._mark_last_swipes()
        finally:
            self._loading = False
        return True

    async def _settle(self) -> None:
        """Wait until the views just mounted are laid out (heights known)."""
        done = asyncio.get_running_loop().create_future()

        def laid_out() -> None:
            if not done.done():
                done.set_result(None)

        self.call_after_refresh(laid_out)
        await done

    async def _trim(self, *, keep_top: bool) -> None:
        """Keep at most MAX_MOUNTED views: drop from the far end (never the
        message being written)."""
        views = self._views()
        extra = len(views) - MAX_MOUNTED
        if extra <= 0:
            return
        box = self.query_one("#messages", VerticalScroll)
        if keep_top:
            if self.busy is not None:
                return  # a reply streams at the bottom: it stays
            doomed = views[-extra:]
            self.at_end = False
            await box.remove_children(doomed)
        else:
            doomed = views[:extra]
            before_y, before_h = box.scroll_y, box.virtual_size.height
            await box.remove_children(doomed)
            self.first += extra
            await self._settle()
            box.scroll_to(y=max(0, before_y - (before_h - box.virtual_size.height)), animate=False, immediate=True)

    async def jump_to(self, position: int) -> None:
        """Show the message at ``position`` (loading its page) and focus it."""
        total = self.app.ws.message_count(self.chat_id)
        position = max(0, min(position, total - 1))
        mounted = self._stored_views()
        if self.first <= position < self.first + len(mounted):
            view = mounted[position - self.first]
            view.focus()
            view.scroll_visible(animate=False, top=True)
            return
        lo = max(0, position - PAGE // 2)
        await self._show_range(lo, min(total, lo + PAGE), focus=position)

    async def action_first_message(self) -> None:
        await self.jump_to(0)

    async def action_last_message(self) -> None:
        await self._show_end()
        views = self._views()
        if views:
            views[-1].focus()
            views[-1].scroll_visible(animate=False)

    def _views(self) -> list[MessageView]:
        return list(self.query(MessageView))

    def _mark_last_swipes(self) -> None:
        views = self._views()
        for v in views:
            v.show_swipes = self.at_end and v is views[-1] and v.role == "assistant"
            v.refresh_mark()

    async def _move_in_window(self, view: MessageView, name: str) -> bool:
        """A message's moving keys (up/down, Page Up, Home/End, n/N); True
        when ``name`` was one of them."""
        if name in ("up", "down"):
            views = self._views()
            i = views.index(view) + (-1 if name == "up" else 1)
            if i < 0 and await self._load_older():
                views = self._views()
                i = views.index(view) - 1
            elif i >= len(views) and await self._load_newer():
                views = self._views()
                i = views.index(view) + 1
            if 0 <= i < len(views):
                views[i].focus()
                views[i].scroll_visible()
            elif i >= len(views):
                self.query_one(Composer).focus()
            return True
        if name == "page_up":
            box = self.query_one("#messages", VerticalScroll)
            if box.scroll_y <= 0:
                await self._load_older()
            box.scroll_page_up(animate=False)
            return True
        if name in ("first", "last"):
            await (self.action_first_message() if name == "first" else self.action_last_message())
            return True
        if name in ("next_hit", "previous_hit"):
            await self._next_hit(1 if name == "next_hit" else -1)
            return True
        return False

    # -- search -------------------------------------------------------------------
    def action_search(self) -> None:
        def run(query: str | None) -> None:
            if query is None:
                return
            self.run_worker(self.find(query), group="search", exclusive=True)

        self.app.push_screen(AskScreen("Search this chat (Enter again: next match):", self._search[0]), run)

    async def find(self, query: str) -> int:
        """Search the whole chat for ``query`` and jump to the next match
        (loading its page); returns the number of matching messages."""
        if query != self._search[0]:
            hits = self.app.ws.search_positions(self.chat_id, query)
            self._hits = [pos for pos, _m, _spans in hits]
            self._search = (query, -1)
        if not self._hits:
            for v in self._views():
                v.remove_class("match")
            self.notify(f"No messages contain “{query}”." if query.strip() else "Search cleared.", markup=False)
            self._search = (query, -1)
            return 0
        await self._next_hit(1)
        return len(self._hits)

    async def _next_hit(self, step: int) -> None:
        """Jump to the next (+1) or previous (-1) match of the last search."""
        query, i = self._search
        if not self._hits:
            return
        i = (i + step) % len(self._hits) if i >= 0 or step > 0 else len(self._hits) - 1
        self._search = (query, i)
        await self.jump_to(self._hits[i])
        self._mark_matches()
        self.notify(f"Match {i + 1} of {len(self._hits)} · n/N next/previous", markup=False)

    def _mark_matches(self) -> None:
        hits = set(self._hits)
        for offset, v in enumerate(self._stored_views()):
            v.set_class(self.first + offset in hits, "match")
