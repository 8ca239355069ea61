"""The tripwire dialog: "this looks like real data: send anyway, edit, cancel?"

The chat screen calls :func:`confirm_send` before sending. When ``[privacy]
tripwire`` is off, or :func:`tui.core.privacy.tripwire.scan` finds nothing, it
answers ``"send"`` at once without showing anything. Otherwise it shows what
was found (in the user's own words, highlighted) and waits for a choice.
Nothing is logged or stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from tui.core import Hit, neutralize, scan
from tui.ui.base import AppBase
from tui.ui.screens.hooks import CandlelitModal

__all__ = ["TripwireScreen", "confirm_send", "excerpt"]

CHOICES = ("send", "edit", "cancel")
_CONTEXT = 24


def excerpt(text: str, hits: Sequence[Hit], context: int = _CONTEXT) -> Text:
    """The parts of ``text`` around each hit, with the hits highlighted."""
    out = Text()
    shown_to = 0
    for i, hit in enumerate(hits):
        start = max(hit.start - context, shown_to)
        if i and start > shown_to:
            out.append(" … ")
        elif not i and start > 0:
            out.append("…")
        out.append(neutralize(text[start:hit.start]).replace("\n", " "))
        out.append(neutralize(text[hit.start:hit.end]).replace("\n", " "), style="reverse bold")
        shown_to = hit.end
        nxt = hits[i + 1].start if i + 1 < len(hits) else len(text)
        tail_end = min(hit.end + context, nxt)
        out.append(neutralize(text[hit.end:tail_end]).replace("\n", " "))
        shown_to = tail_end
    if shown_to < len(text):
        out.append("…")
    return out


def _summary(hits: Sequence[Hit]) -> str:
    labels: list[str] = []
    for h in hits:
        if h.label not in labels:
            labels.append(h.label)
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


class TripwireScreen(CandlelitModal[str]):
    """Dismisses with ``"send"``, ``"edit"`` or ``"cancel"``."""

    DEFAULT_CSS = """
    TripwireScreen { align: center middle; }
    TripwireScreen #dialog { width: 72; height: auto; border: thick $warning; background: $panel; padding: 1 2; }
    TripwireScreen #tripwire-excerpt { margin: 1 0; }
    TripwireScreen #dialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    TripwireScreen #dialog Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("s", "choose('send')", "Send anyway", id="tripwire.send"),
        Binding("e", "choose('edit')", "Edit", id="tripwire.edit"),
        Binding("c,escape", "choose('cancel')", "Cancel", id="tripwire.cancel"),
    ]

    def __init__(self, text: str, hits: Sequence[Hit]) -> None:
        super().__init__()
        self.text = text
        self.hits = list(hits)
        self.answer: asyncio.Future[str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(
                f"This message seems to contain {_summary(self.hits)}. "
                "Roleplay is fiction: is real information meant to be in it?",
                id="tripwire-question",
                markup=False,
            )
            yield Static(excerpt(self.text, self.hits), id="tripwire-excerpt")
            yield Static("Checked on this computer only; nothing is logged.", markup=False)
            with Horizontal():
                yield Button("Cancel (c)", id="cancel")
                yield Button("Edit (e)", id="edit", variant="primary")
                yield Button("Send anyway (s)", id="send", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#edit", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(event.button.id or "cancel")

    def on_unmount(self) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_result("cancel")  # closed some other way: do not send

    def action_choose(self, choice: str) -> None:
        choice = choice if choice in CHOICES else "cancel"
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(choice)
        self.dismiss(choice)


async def confirm_send(app: AppBase, text: str, deny_names: Iterable[str] | None = None) -> str:
    """``"send"``, ``"edit"`` or ``"cancel"`` for ``text`` about to be sent.

    ``deny_names`` defaults to the profile's tripwire names (``[privacy]
    deny_names`` and the profile's own list); with ``[privacy]
    tripwire = false`` the answer is always ``"send"``. Safe to await in a
    message handler: the answer does not go through the caller's queue.
    """
    privacy = app.ws.config.privacy
    if not privacy.tripwire:
        return "send"
    names = deny_names if deny_names is not None else app.ws.tripwire_names()
    hits = scan(text, names)
    if not hits:
        return "send"
    screen = TripwireScreen(text, hits)
    screen.answer = asyncio.get_running_loop().create_future()
    app.push_screen(screen)
    return await screen.answer
