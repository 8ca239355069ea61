"""The Textual app. Until the full chat UI lands this is a home screen that
lists the profile's characters and chats and points to the command line.

``make_app`` is the one factory the CLI and the tests share; it does no I/O
until the app is mounted.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static

from tui.core.workspace import Workspace


class CandlelitApp(App[None]):
    TITLE = "Candlelit"
    SUB_TITLE = "LOCAL"
    BINDINGS = [Binding("q", "quit", "Quit", id="quit")]
    CSS = """
    #home { padding: 1 2; }
    .heading { text-style: bold; margin-top: 1; }
    """

    def __init__(self, ws: Workspace, model_override: str | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.model_override = model_override

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static("Characters", classes="heading")
            yield Static(id="characters", markup=False)
            yield Static("Recent chats", classes="heading")
            yield Static(id="chats", markup=False)
            yield Static(
                "The chat screen is coming; meanwhile: candlelit chat new --character SLUG, "
                "then candlelit chat say CHAT_ID \"text\".",
                id="hint",
                markup=False,
            )
        yield Footer()

    def on_mount(self) -> None:
        cards = self.ws.cards()
        self.query_one("#characters", Static).update(
            "\n".join(f"{e.card.display_name} ({e.slug}): {e.card.short_description()}" for e in cards)
            or "no characters yet"
        )
        chats = self.ws.store.list_chats()[:10]
        self.query_one("#chats", Static).update(
            "\n".join(f"{c.title} — {c.updated[:16].replace('T', ' ')} ({c.id})" for c in chats)
            or "no chats yet"
        )


def make_app(ws: Workspace, model_override: str | None = None) -> CandlelitApp:
    return CandlelitApp(ws, model_override)
