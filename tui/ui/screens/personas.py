"""People at the keyboard: the persona editor, and setting up a group scene.

``PersonasScreen`` edits the profile's personas (``tui.core.profile.personas``):
each has a name, a short description and their boundaries, hard limits
(never) and soft limits (ask first), one per line. The first persona is the
one who types in one-to-one chats.

``GroupSceneScreen`` starts a scene with several characters and several
personas (and optionally a narrator and a turn policy); it returns the new
chat's id.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Header, Input, OptionList, Select, SelectionList, Static, TextArea
from textual.widgets.option_list import Option

from tui.core import (
    POLICIES,
    CandlelitError,
    PersonaError,
    PersonaProfile,
    SceneError,
    SceneSettings,
    new_scene_chat,
)
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.screens.hooks import CandlelitModal, CandlelitScreen
from tui.ui.text import literal

POLICY_LABELS = {
    "natural": "Natural: whoever fits (talkativeness)",
    "round_robin": "Round robin: characters take turns",
    "manual": "Manual: you pick who answers (Ctrl+N)",
    "auto": "Auto: characters answer each other, then hand back",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class PersonasScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save persona", id="personas.save", priority=True),
        Binding("ctrl+n", "new", "New persona", id="personas.new", priority=True),
        Binding("ctrl+d", "remove", "Remove persona", id="personas.remove", priority=True),
        Binding("escape", "back", "Back", id="personas.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.editing: str | None = None  # the name being edited; None: a new persona

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="personas"):
            with Vertical(id="persona-side"):
                yield Static("Personas", classes="heading")
                yield OptionList(id="persona-list")
                yield Static("The first one types in one-to-one chats.", classes="hint", markup=False)
            with VerticalScroll(id="persona-form"):
                yield Static("Name", classes="field-label")
                yield Input(id="persona-name", placeholder="e.g. Alex")
                yield Static("About (a sentence or two the characters may know)", classes="field-label")
                yield TextArea(id="persona-description", soft_wrap=True)
                yield Static("Hard limits: never, one per line", classes="field-label")
                yield TextArea(id="persona-hard", soft_wrap=True)
                yield Static("Soft limits: ask first, one per line", classes="field-label")
                yield TextArea(id="persona-soft", soft_wrap=True)
                yield Static("Ctrl+S save · Ctrl+N new · Ctrl+D remove · Esc back", classes="hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Personas"
        self.refresh_list()
        personas = self._personas()
        if personas:
            self._edit(personas[0])
        self.query_one("#persona-list", OptionList).focus()

    def _personas(self) -> list[PersonaProfile]:
        try:
            return self.app.ws.persona_profiles()
        except CandlelitError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return []

    def refresh_list(self, select: str | None = None) -> None:
        ol = self.query_one("#persona-list", OptionList)
        ol.clear_options()
        names = [p.name for p in self._personas()]
        for i, name in enumerate(names):
            ol.add_option(Option(literal(name), id=str(i)))
        if select in names:
            ol.highlighted = names.index(select)
        elif names:
            ol.highlighted = 0

    def _edit(self, p: PersonaProfile | None) -> None:
        self.editing = p.name if p else None
        self.query_one("#persona-name", Input).value = p.name if p else ""
        self.query_one("#persona-description", TextArea).text = p.description if p else ""
        self.query_one("#persona-hard", TextArea).text = "\n".join(p.hard_limits) if p else ""
        self.query_one("#persona-soft", TextArea).text = "\n".join(p.soft_limits) if p else ""

    @on(OptionList.OptionSelected, "#persona-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        personas = self._personas()
        i = int(event.option.id or 0)
        if i < len(personas):
            self._edit(personas[i])
            self.query_one("#persona-name", Input).focus()

    @on(OptionList.OptionHighlighted, "#persona-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        personas = self._personas()
        i = int(event.option.id or 0)
        if i < len(personas) and personas[i].name != self.editing:
            self._edit(personas[i])

    def form(self) -> PersonaProfile:
        """The persona in the form (``PersonaError`` if it is not valid)."""
        return PersonaProfile(
            self.query_one("#persona-name", Input).value,
            self.query_one("#persona-description", TextArea).text,
            tuple(_lines(self.query_one("#persona-hard", TextArea).text)),
            tuple(_lines(self.query_one("#persona-soft", TextArea).text)),
        )

    def action_save(self) -> None:
        ws = self.app.ws
        try:
            persona = self.form()
            if self.editing is None:
                ws.add_persona(persona)
            else:
                ws.update_persona(persona, self.editing)
        except CandlelitError as exc:  # PersonaError included
            self.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        self.editing = persona.name
        self.refresh_list(select=persona.name)
        self.notify(f"Saved {persona.name}.", markup=False)

    def action_new(self) -> None:
        self._edit(None)
        self.query_one("#persona-list", OptionList).highlighted = None
        self.query_one("#persona-name", Input).focus()

    def action_remove(self) -> None:
        name = self.editing
        if name is None:
            self._edit(None)
            return

        def really(yes: bool | None) -> None:
            if not yes:
                return
            ws = self.app.ws
            try:
                ws.remove_persona(name)
            except CandlelitError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self.notify(f"Removed {name}.", markup=False)
            self.refresh_list()
            personas = self._personas()
            self._edit(personas[0] if personas else None)

        self.app.push_screen(
            ConfirmScreen(f"Remove the persona “{name}”? Chats that include them keep their lines."), really
        )

    def action_back(self) -> None:
        self.app.pop_screen()


class GroupSceneScreen(CandlelitModal[str | None]):
    """Choose characters, personas, narrator and turn policy; returns the new chat id."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start the scene", id="group.start", priority=True),
        Binding("escape", "cancel", "Cancel", id="group.cancel"),
    ]

    def __init__(self, selected: str | None = None) -> None:
        super().__init__()
        self.selected = selected

    def compose(self) -> ComposeResult:
        ws = self.app.ws
        cards = ws.cards()
        personas = ws.persona_profiles()
        with Vertical(id="group-dialog"):
            yield Static("New group scene", classes="heading")
            with Horizontal(id="group-lists"):
                with Vertical(classes="group-col"):
                    yield Static("Characters (Space: choose)", classes="field-label")
                    yield SelectionList[str](
                        *((literal(e.card.display_name), e.slug, e.slug == self.selected) for e in cards),
                        id="group-characters",
                    )
                with Vertical(classes="group-col"):
                    yield Static("At the keyboard (Space: choose)", classes="field-label")
                    yield SelectionList[str](
                        *((literal(p.name), p.name, True) for p in personas),
                        id="group-personas",
                    )
            yield Select(
                [(POLICY_LABELS[p], p) for p in POLICIES], value="natural", allow_blank=False, id="group-policy"
            )
            yield Checkbox("A narrator describes the scene", id="group-narrator")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Start scene (Ctrl+S)", id="start", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#group-characters", SelectionList).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self.action_start()
        else:
            self.action_cancel()

    def action_start(self) -> None:
        slugs = list(self.query_one("#group-characters", SelectionList).selected)
        names = list(self.query_one("#group-personas", SelectionList).selected)
        narrator = self.query_one("#group-narrator", Checkbox).value
        policy = self.query_one("#group-policy", Select).value
        if not slugs:
            self.notify("Choose at least one character.", severity="warning", markup=False)
            return
        if not names:
            self.notify("Choose who is at the keyboard.", severity="warning", markup=False)
            return
        try:
            settings = SceneSettings(policy=str(policy), narrator=narrator)
            info = new_scene_chat(self.app.ws, slugs, names, narrator=narrator, settings=settings)
        except (CandlelitError, SceneError, PersonaError, OSError) as exc:
            self.notify(str(exc), title="The scene was not created", severity="error", markup=False)
            return
        self.dismiss(info.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
