"""Ideas: scenario ideas for the couple, from a few themes and their boundaries.

Choose themes and who takes part; Ctrl+G asks the model (in a thread
worker, through ``tui.core.scene.ideas``) for a few ideas. Nothing starts a chat
until asked: Ctrl+S keeps an idea in the saved list (the profile's
ideas.toml), Enter or Ctrl+N turns the highlighted idea into a scene with
the chosen character (the idea becomes the chat's first line).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from tui.core import (
    THEMES,
    CandlelitError,
    IdeasCancelled,
    IdeasError,
    PersonaProfile,
    boundaries_text,
    generate_ideas,
    new_scene_chat,
)
from tui.ui.screens.hooks import CandlelitScreen
from tui.ui.text import literal
from tui.ui.workers import pump

DEFAULT_THEMES = 2  # the first themes are ticked to start with


@dataclass
class IdeasReady(Message):
    ideas: list[str]


@dataclass
class IdeasFailed(Message):
    error: str
    cancelled: bool = False


def _ideas_failed(exc: Exception) -> IdeasFailed:
    if isinstance(exc, IdeasCancelled):
        return IdeasFailed(str(exc), cancelled=True)
    if isinstance(exc, IdeasError):
        return IdeasFailed(str(exc))
    return IdeasFailed(str(exc) or exc.__class__.__name__)  # shown as a notice


class IdeasScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate ideas", id="ideas.generate", priority=True),
        Binding("ctrl+s", "save", "Save idea", id="ideas.save", priority=True),
        Binding("ctrl+n", "start_scene", "Start a scene from the idea", id="ideas.scene", priority=True),
        Binding("delete", "remove", "Remove saved idea", id="ideas.remove"),
        Binding("escape", "stop_or_back", "Stop / Back", id="ideas.back"),
    ]

    def __init__(self, slug: str | None = None) -> None:
        super().__init__()
        self.slug = slug  # the character a scene starts with
        self.ideas: list[str] = []
        self.saved: list[str] = []
        self.cancel: threading.Event | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="ideas"):
            with Horizontal(id="ideas-top"):
                with Vertical(classes="ideas-col"):
                    yield Static("Themes (Space: choose)", classes="heading")
                    yield SelectionList[str](
                        *((t, t, i < DEFAULT_THEMES) for i, t in enumerate(THEMES)), id="ideas-themes"
                    )
                with Vertical(classes="ideas-col"):
                    yield Static("Who it is for", classes="heading")
                    yield SelectionList[str](id="ideas-personas")
                    yield Static("", id="ideas-bounds", markup=False)
            yield Static("", id="ideas-hint", classes="heading", markup=False)
            yield OptionList(id="ideas-list")
            yield Static("Saved ideas", classes="heading")
            yield OptionList(id="ideas-saved")
            yield Static("", id="ideas-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Ideas"
        ws = self.app.ws
        if self.slug is None:
            cards = ws.cards()
            self.slug = cards[0].slug if cards else None
        who = self.query_one("#ideas-personas", SelectionList)
        for p in self._all_personas():
            who.add_option((literal(p.name), p.name, True))
        name = ""
        if self.slug:
            try:
                name = ws.card(self.slug).card.display_name
            except CandlelitError:
                self.slug = None
        self.query_one("#ideas-hint", Static).update(literal(
            f"Ideas (Enter or Ctrl+N: start a scene with {name} · Ctrl+S: save)" if name
            else "Ideas (Ctrl+S: save; add a character to start scenes)"
        ))
        self._show_bounds()
        self._show_saved()
        self._status("Choose a few themes, then Ctrl+G to ask for ideas. Nothing starts until you pick one.")
        self.query_one("#ideas-themes", SelectionList).focus()

    # -- who and what ---------------------------------------------------------
    def _all_personas(self) -> list[PersonaProfile]:
        try:
            return self.app.ws.persona_profiles()
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return []

    def chosen_personas(self) -> list[PersonaProfile]:
        names = set(self.query_one("#ideas-personas", SelectionList).selected)
        return [p for p in self._all_personas() if p.name in names]

    def chosen_themes(self) -> list[str]:
        return list(self.query_one("#ideas-themes", SelectionList).selected)

    @on(SelectionList.SelectedChanged, "#ideas-personas")
    def _personas_changed(self, event: SelectionList.SelectedChanged) -> None:
        self._show_bounds()

    def _show_bounds(self) -> None:
        text = boundaries_text(self.chosen_personas())
        lines = (
            [line for line in text.splitlines()[1:]]
            if text
            else ["No boundaries written yet (Personas, on the home screen)."]
        )
        self.query_one("#ideas-bounds", Static).update(literal("\n".join(lines)))

    def _status(self, text: str) -> None:
        self.query_one("#ideas-status", Static).update(literal(text))

    # -- generating -----------------------------------------------------------
    def action_generate(self) -> None:
        if self.busy:
            return
        engine = self.app.engine
        if engine is None:
            self.notify("The model is still loading.", markup=False)
            return
        personas = self.chosen_personas()
        if not personas:
            self.notify("Choose who the ideas are for.", severity="warning", markup=False)
            return
        self.busy = True
        self.cancel = threading.Event()
        self._status("Writing ideas… (Esc stops)")
        self._generate(engine, self.chosen_themes(), personas, self.cancel)

    @work(thread=True, exclusive=True, group="ideas", exit_on_error=False)
    def _generate(self, engine, themes: list[str], personas: list[PersonaProfile], cancel: threading.Event) -> None:
        pump(
            self,
            lambda: [generate_ideas(engine, themes, personas, cancel=cancel)],  # one event: the ideas
            {list: IdeasReady},
            failed=_ideas_failed,
        )

    @on(IdeasReady)
    def _ready(self, msg: IdeasReady) -> None:
        self.busy = False
        self.ideas = list(msg.ideas)
        ol = self.query_one("#ideas-list", OptionList)
        ol.clear_options()
        for i, idea in enumerate(self.ideas):
            ol.add_option(Option(literal(idea), id=str(i)))
        ol.highlighted = 0 if self.ideas else None
        ol.focus()
        self._status(f"{len(self.ideas)} idea{'s' if len(self.ideas) != 1 else ''}. Ctrl+G again for others.")

    @on(IdeasFailed)
    def _failed(self, msg: IdeasFailed) -> None:
        self.busy = False
        self._status("")
        self.notify(msg.error, title="Ideas", severity="information" if msg.cancelled else "warning", markup=False)

    def action_stop_or_back(self) -> None:
        if self.busy and self.cancel is not None:
            self.cancel.set()
            return
        self.app.pop_screen()

    def work_events(self) -> tuple[threading.Event | None, ...]:
        return (self.cancel,)  # leaving, or the profile locking, stops generating

    # -- keeping and using ideas ---------------------------------------------
    def current_idea(self) -> str | None:
        """The highlighted idea of the focused list (or of the new ideas)."""
        saved = self.query_one("#ideas-saved", OptionList)
        fresh = self.query_one("#ideas-list", OptionList)
        order = [(saved, self.saved), (fresh, self.ideas)]
        if not saved.has_focus:
            order.reverse()
        for ol, items in order:
            if ol.highlighted is not None and ol.highlighted < len(items):
                return items[ol.highlighted]
        return None

    def _show_saved(self) -> None:
        try:
            saved = self.app.ws.saved_ideas()
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            saved = []
        self.saved = [i.text for i in saved]
        ol = self.query_one("#ideas-saved", OptionList)
        ol.clear_options()
        for i, text in enumerate(self.saved):
            ol.add_option(Option(literal(text), id=str(i)))
        if not self.saved:
            ol.add_option(Option("nothing saved yet", id="none", disabled=True))

    def action_save(self) -> None:
        idea = self.current_idea()
        if idea is None:
            self.notify("Generate ideas first (Ctrl+G).", markup=False)
            return
        try:
            self.app.ws.save_idea(idea, self.chosen_themes())
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._show_saved()
        self.notify("Saved to your ideas.", markup=False)

    def action_remove(self) -> None:
        saved = self.query_one("#ideas-saved", OptionList)
        if not saved.has_focus or saved.highlighted is None or saved.highlighted >= len(self.saved):
            return
        try:
            self.app.ws.remove_idea(self.saved[saved.highlighted])
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._show_saved()

    @on(OptionList.OptionSelected, "#ideas-list, #ideas-saved")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_start_scene()

    def action_start_scene(self) -> None:
        from tui.ui.screens.chat import ChatScreen

        idea = self.current_idea()
        if idea is None:
            self.notify("Generate or choose an idea first.", markup=False)
            return
        if not self.slug:
            self.notify("Add a character first (c on the home screen).", markup=False)
            return
        names = [p.name for p in self.chosen_personas()]
        try:
            title = idea if len(idea) <= 48 else idea[:47].rstrip() + "…"
            info = new_scene_chat(self.app.ws, [self.slug], names, title, opening=idea)
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="The scene was not created", severity="error", markup=False)
            return
        self.app.switch_screen(ChatScreen(info.id))
