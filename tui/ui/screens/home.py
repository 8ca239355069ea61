"""Home: characters and recent chats. Start, resume, rename, delete.

Also the way to the couple's tools: a new group scene (g), Personas (p),
Ideas (e) and Rehearsal (t); the highlighted character is the one they
start with.

While an encrypted profile is locked the home screen reads nothing of it:
its lists stay empty and it says the profile is locked (the lock screen is
on top; the app refreshes the lists once the passphrase opens it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from tui.core import CandlelitError, CardError, ImportResult
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.hooks import CandlelitScreen
from tui.ui.text import literal


@dataclass
class CardImported(Message):
    result: ImportResult


@dataclass
class ImportFailed(Message):
    error: str


class HomeScreen(CandlelitScreen[None]):
    BINDINGS = [
        Binding("n", "new_chat", "New chat", id="home.new"),
        Binding("r", "rename", "Rename chat", id="home.rename"),
        Binding("d,delete", "delete", "Delete chat", id="home.delete"),
        Binding("s", "studio", "Studio", id="home.studio"),
        Binding("c", "create", "New character", id="home.create"),
        Binding("i", "import_card", "Import a card or a chat", show=False, id="home.import"),
        Binding("tab", "app.focus_next", "Next list", show=False, id="home.focus_next"),
        Binding("g", "group_scene", "New group scene", show=False, id="home.group"),
        Binding("p", "personas", "Personas", show=False, id="home.personas"),
        Binding("e", "ideas", "Ideas for a scene", show=False, id="home.ideas"),
        Binding("t", "rehearsal", "Rehearse a conversation", show=False, id="home.rehearsal"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            yield Static("", id="profile", markup=False)
            yield Static("Characters  (Enter or n: new chat)", classes="heading")
            yield OptionList(id="characters")
            yield Static("Recent chats  (Enter: open · r: rename · d: delete)", classes="heading")
            yield OptionList(id="chats")
            yield Static("", id="model-state", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#characters", OptionList).focus()
        # Fill the lists after the first full paint: updating widgets during
        # mount could leave the first frame half-drawn in a real terminal
        # (seen in tmux with Textual 8.2.8; headless runs were fine).
        self.call_after_refresh(self._fill)

    def _fill(self) -> None:
        self.refresh_lists()
        self.model_state_changed(self.app.model_state)

    def on_screen_resume(self) -> None:
        self.refresh_lists()

    def model_state_changed(self, text: str) -> None:
        self.query_one("#model-state", Static).update(
            literal(f"Model: {text}   (LOCAL — nothing leaves this machine)")
        )

    def clear_lists(self) -> None:
        """Show nothing of the profile (it is locked, or about to be)."""
        ws = self.app.ws
        self.query_one("#profile", Static).update(
            f"Profile: {ws.profile_name} · locked (its passphrase opens it)"
        )
        self.query_one("#characters", OptionList).clear_options()
        self.query_one("#chats", OptionList).clear_options()

    def refresh_lists(self) -> None:
        ws = self.app.ws
        if ws.locked:  # nothing of a locked profile can be read: show nothing
            self.clear_lists()
            return
        persona = ws.persona()
        self.query_one("#profile", Static).update(literal(f"Profile: {ws.profile_name} · you are {persona.name}"))
        chats = ws.chats()
        counts: dict[str, int] = {}
        for c in chats:
            for slug in c.characters:
                counts[slug] = counts.get(slug, 0) + 1
        chars = self.query_one("#characters", OptionList)
        chars.clear_options()
        for e in ws.cards():
            n = counts.get(e.slug, 0)
            label = f"{e.card.display_name} — {e.card.short_description()}  ({n} chat{'s' if n != 1 else ''})"
            chars.add_option(Option(literal(label), id=e.slug))
        lst = self.query_one("#chats", OptionList)
        lst.clear_options()
        titles = {c.id: c.title for c in chats}
        for c in chats:
            when = c.updated[:16].replace("T", " ")
            try:
                count: int | None = ws.message_count(c.id)  # the index header: never the whole chat
            except Exception:  # noqa: BLE001 - a broken chat still gets listed
                count = None
            size = "" if count is None else f" · {count:,} message{'s' if count != 1 else ''}"
            label = f"{c.title} · {', '.join(c.characters)}{size} · {when}"
            if c.parent:
                label += f"  ↳ branch of “{titles.get(c.parent, c.parent)}”"
            lst.add_option(Option(literal(label), id=c.id))
        if not chats:
            lst.add_option(Option("no chats yet", id="", disabled=True))
        for ol in (chars, lst):
            if ol.option_count and ol.highlighted is None:
                ol.highlighted = 0

    def _highlighted(self, list_id: str) -> str | None:
        ol = self.query_one(list_id, OptionList)
        if ol.highlighted is None:
            return None
        opt = ol.get_option_at_index(ol.highlighted)
        return opt.id or None

    @on(OptionList.OptionSelected, "#characters")
    def _pick_character(self, event: OptionList.OptionSelected) -> None:
        self._start(event.option.id)

    @on(OptionList.OptionSelected, "#chats")
    def _pick_chat(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self._open(event.option.id)

    def action_new_chat(self) -> None:
        slug = self._highlighted("#characters")
        if slug:
            self._start(slug)

    def _start(self, slug: str | None) -> None:
        if not slug:
            return
        try:
            info = self.app.ws.new_chat(slug, carry_memory=self.app.ws.config.memory.carry_over)
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._open(info.id)

    def _open(self, chat_id: str) -> None:
        from tui.ui.screens.chat import ChatScreen

        self.app.push_screen(ChatScreen(chat_id))

    def action_rename(self) -> None:
        chat_id = self._highlighted("#chats")
        if not chat_id:
            return
        info = self.app.ws.chat(chat_id)

        def done(title: str | None) -> None:
            if title and title.strip():
                self.app.ws.rename_chat(chat_id, title.strip())
                self.refresh_lists()

        self.app.push_screen(AskScreen("New title for this chat:", info.title), done)

    def action_delete(self) -> None:
        chat_id = self._highlighted("#chats")
        if not chat_id:
            return
        info = self.app.ws.chat(chat_id)

        def done(yes: bool | None) -> None:
            if yes:
                self.app.ws.delete_chat(chat_id)
                self.notify("Chat deleted.", markup=False)
                self.refresh_lists()

        self.app.push_screen(
            ConfirmScreen(f"Delete the chat “{info.title}” and all its messages? This cannot be undone."), done
        )

    # -- characters: studio, create, import -------------------------------------
    def action_studio(self) -> None:
        from tui.ui.screens.studio import StudioScreen

        slug = self._highlighted("#characters")
        if slug:
            self.app.push_screen(StudioScreen(slug))

    def action_create(self) -> None:
        from tui.ui.screens.studio import StudioScreen

        self.app.push_screen(StudioScreen(None))

    def action_import_card(self) -> None:
        from tui.ui.chat_files import import_chat_file, is_chat_file
        from tui.ui.screens.studio import pasted_path

        def done(text: str | None) -> None:
            if text and text.strip():
                path = pasted_path(text)
                if is_chat_file(path):
                    import_chat_file(self, path)  # a SillyTavern chat
                else:
                    self._import(path)

        self.app.push_screen(
            AskScreen(
                "Import a character card (JSON, PNG or CHARX) or a SillyTavern chat (.jsonl): "
                "type or drop the path of the file."
            ),
            done,
        )

    @work(thread=True, group="import", exit_on_error=False)
    def _import(self, path: Path) -> None:
        try:
            result = self.app.ws.import_card(path)
        except (CardError, CandlelitError, OSError) as exc:
            self.post_message(ImportFailed(str(exc)))
            return
        self.post_message(CardImported(result))

    @on(CardImported)
    def _imported(self, msg: CardImported) -> None:
        self.refresh_lists()
        chars = self.query_one("#characters", OptionList)
        try:
            chars.highlighted = chars.get_option_index(msg.result.slug)
        except OptionDoesNotExist:
            pass  # not listed (unreadable): nothing to highlight
        self.notify(f"Imported “{msg.result.card.display_name}”.", markup=False)
        for warning in msg.result.warnings:
            self.notify(warning, severity="warning", timeout=20, markup=False)

    @on(ImportFailed)
    def _import_failed(self, msg: ImportFailed) -> None:
        self.notify(msg.error, title="Import failed", severity="error", timeout=30, markup=False)

    # -- scenes for more than two, and the couple's tools ---------------------------
    def action_group_scene(self) -> None:
        from tui.ui.screens.personas import GroupSceneScreen

        def done(chat_id: str | None) -> None:
            if chat_id:
                self._open(chat_id)

        self.app.push_screen(GroupSceneScreen(self._highlighted("#characters")), done)

    def action_personas(self) -> None:
        from tui.ui.screens.personas import PersonasScreen

        self.app.push_screen(PersonasScreen())

    def action_ideas(self) -> None:
        from tui.ui.screens.ideas import IdeasScreen

        self.app.push_screen(IdeasScreen(self._highlighted("#characters")))

    def action_rehearsal(self) -> None:
        from tui.ui.screens.rehearsal import RehearsalScreen

        self.app.push_screen(RehearsalScreen(self._highlighted("#characters")))
