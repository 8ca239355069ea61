"""The Studio: create or edit a character card, with live token counts.

The form edits a copy of the :class:`Card`; fields it does not show
(extensions, unknown keys, V3 metadata) ride along untouched and are saved
with ``save_card_file``. Text that is shown neutralized (control characters
made visible) is written back as it was unless the user changed it.

Token counts use ``app.tokenizer()``: a vocab-only llama.cpp instance of
its own, so counting never waits behind a reply. Counting runs ~0.3 s after
typing stops, in a thread worker; results are cached by text, so a stale
result is harmless and unchanged fields are never counted twice. A field
is counted as written (``{{char}}`` and other macros unexpanded), without BOS.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Footer, Header, Input, Static, TextArea
from textual.worker import get_current_worker

from tui.core import (
    EXPORT_FORMATS,
    CandlelitError,
    Card,
    CardError,
    ContentRefused,
    card_to_json,
    neutralize,
)
from tui.ui.modals.confirm import ConfirmScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.modals.lore_entry import kept, split_list
from tui.ui.screens.hooks import CandlelitScreen
from tui.ui.widgets.avatar import AvatarView
from tui.ui.widgets.greeting_row import GreetingRow
from tui.ui.widgets.lore_section import LoreSection

# (card attribute, label) — one-line inputs, then multi-line text areas.
LINE_FIELDS = (
    ("name", "Name"), ("nickname", "Nickname"), ("tags", "Tags (comma-separated)"),
    ("creator", "Creator"), ("character_version", "Version"),
)
TEXT_FIELDS = (
    ("description", "Description"), ("personality", "Personality"), ("scenario", "Scenario"),
    ("first_mes", "First message"), ("mes_example", "Example messages"),
    ("system_prompt", "System prompt"), ("post_history_instructions", "Post-history instructions"),
    ("creator_notes", "Creator notes (not sent to the model)"),
)
DEBOUNCE_S = 0.3


def pasted_path(text: str) -> Path:
    """A path as typed or dropped into the terminal: surrounding spaces and
    quotes, a ``file://`` URL (percent-escapes decoded) or shell backslash
    escapes (``My\\ Card.png``) are undone; ``~`` is expanded."""
    s = text.strip()
    while len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        s = s[1:-1].strip()
    if s.lower().startswith("file://"):
        s = unquote(urlparse(s).path)
    elif "\\" in s and not Path(s).expanduser().exists():
        s = re.sub(r"\\(.)", r"\1", s)
    return Path(s).expanduser()


def _tokens(n: int) -> str:
    return f"{n} token{'s' if n != 1 else ''}"


@dataclass
class Counted(Message):
    counts: dict[str, int]  # text -> tokens


@dataclass
class NoTokenizer(Message):
    why: str


@dataclass
class Exported(Message):
    path: Path
    warnings: list[str]


@dataclass
class ExportFailed(Message):
    error: str


class StudioScreen(CandlelitScreen[None]):
    DEFAULT_CSS = """
    StudioScreen #form { padding: 0 1; }
    StudioScreen .field-label { color: $accent; text-style: bold; margin-top: 1; }
    StudioScreen .section { color: $accent; text-style: bold; margin-top: 1; background: $boost; }
    StudioScreen #top { height: auto; }
    StudioScreen #avatar { width: 24; height: 10; border: round $panel; content-align: center middle;
                           text-align: center; margin: 1 1 0 0; }
    StudioScreen #identity { width: 1fr; height: auto; }
    StudioScreen .pair { height: auto; }
    StudioScreen .cell { width: 1fr; height: auto; }
    StudioScreen TextArea { height: 7; }
    StudioScreen .buttons { height: auto; margin-top: 1; }
    StudioScreen .buttons Button { margin-right: 1; }
    StudioScreen #total { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="studio.save", priority=True),
        Binding("ctrl+e", "export", "Export", id="studio.export", priority=True),
        Binding("escape", "back", "Back", id="studio.back"),
    ]

    def __init__(self, slug: str | None = None) -> None:
        super().__init__()
        self.slug = slug
        self.card = Card(name="")
        self.ready = False  # the form is filled and counted once
        self.counts: dict[str, int] = {}  # text -> tokens (cache)
        self.no_tokenizer: str | None = None
        self._shown: dict[str, str] = {}  # field -> neutralized text put in the widget
        self._saved = ""  # card_to_json of what is on disk (or the blank new card)
        self._timer: Timer | None = None
        self._greeting_ids = 0
        self._load_error = ""

    # -- building the form ---------------------------------------------------
    def _load(self) -> bool:
        if self.slug is None:
            return True
        try:
            self.card = copy.deepcopy(self.app.ws.card(self.slug).card)
        except (CardError, CandlelitError, OSError) as exc:
            self._load_error = str(exc)
            return False
        return True

    def _shown_text(self, field: str) -> str:
        value = getattr(self.card, field)
        text = ", ".join(value) if field == "tags" else value
        self._shown[field] = neutralize(text)
        return self._shown[field]

    def compose(self) -> ComposeResult:
        self._loaded = self._load()
        yield Header()
        with VerticalScroll(id="form"):
            with Horizontal(id="top"):
                yield AvatarView(id="avatar")
                with Vertical(id="identity"):
                    for pair in (LINE_FIELDS[:2], LINE_FIELDS[2:3], LINE_FIELDS[3:]):
                        with Horizontal(classes="pair"):
                            for field, _label in pair:
                                with Vertical(classes="cell"):
                                    yield Static("", id=f"label-{field}", classes="field-label", markup=False)
                                    yield Input(self._shown_text(field), id=f"f-{field}")
            for field, _label in TEXT_FIELDS[:4]:
                yield from self._text_field(field)
            yield Static("Alternate greetings", classes="section", markup=False)
            with Vertical(id="greetings"):
                for g in self.card.alternate_greetings:
                    yield self._greeting_row(g)
            with Horizontal(classes="buttons"):
                yield Button("Add greeting", id="add-greeting")
            for field, _label in TEXT_FIELDS[4:]:
                yield from self._text_field(field)
            yield LoreSection(self.card.character_book, self.count_of)
        yield Static("", id="total", markup=False)
        yield Footer()

    def _text_field(self, field: str) -> ComposeResult:
        yield Static("", id=f"label-{field}", classes="field-label", markup=False)
        yield TextArea(self._shown_text(field), id=f"f-{field}", soft_wrap=True)

    def _greeting_row(self, text: str) -> GreetingRow:
        self._greeting_ids += 1
        return GreetingRow(neutralize(text), text, row_id=f"greeting-{self._greeting_ids}")

    def on_mount(self) -> None:
        if not self._loaded:
            self.notify(self._load_error, title="Cannot open the character", severity="error", markup=False)
            self.call_after_refresh(self._leave)
            return
        self._saved = card_to_json(self.collect())
        self.query_one("#f-name", Input).focus()
        # Fill titles and counts after the first full paint: updating many
        # labels during mount left the first frame half-drawn in real
        # terminals (seen in tmux; headless snapshots were fine).
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self._set_title()
        self._show_avatar()
        self.refresh_counts()
        self._count_now()
        self.ready = True

    def _set_title(self) -> None:
        self.title = neutralize(self.card.display_name) if self.slug else "New character"
        self.sub_title = "Studio · Ctrl+S save · Ctrl+E export · Esc back"

    def _show_avatar(self) -> None:
        words = re.findall(r"\w+", self.card.name if self.slug else self.query_one("#f-name", Input).value)
        initials = "".join(w[0] for w in words[:2]).upper() or "?"
        avatar = self.app.ws.avatar_path(self.slug) if self.slug else None
        note = f"(avatar: {avatar.name})" if avatar else "(no avatar)"
        self.query_one("#avatar", AvatarView).show(avatar, neutralize(f"{initials}\n\n{note}"))

    # -- reading the form ------------------------------------------------------
    def _value(self, field: str) -> str:
        widget = self.query_one(f"#f-{field}")
        typed = widget.value if isinstance(widget, Input) else widget.text
        original = getattr(self.card, field)
        if field == "tags":
            return typed
        return kept(self._shown.get(field, ""), typed, original)

    def _greetings(self) -> list[GreetingRow]:
        return list(self.query(GreetingRow))

    def collect(self) -> Card:
        """The card as the form has it now (not saved)."""
        card = copy.deepcopy(self.card)
        for field, _label in LINE_FIELDS + TEXT_FIELDS:
            if field == "tags":
                typed = self._value("tags")
                if typed != self._shown["tags"]:
                    card.tags = split_list(typed)
            else:
                setattr(card, field, self._value(field))
        card.name = " ".join(card.name.split())
        card.nickname = card.nickname.strip()
        card.alternate_greetings = [row.text for row in self._greetings() if row.text.strip()]
        card.character_book = self.query_one(LoreSection).character_book()
        return card

    def is_dirty(self) -> bool:
        return card_to_json(self.collect()) != self._saved

    # -- token counts ----------------------------------------------------------
    def _texts(self) -> dict[str, str]:
        """Counted things: widget label id -> text."""
        texts = {f"label-{f}": self._value(f) for f, _l in LINE_FIELDS + TEXT_FIELDS}
        for row in self._greetings():
            texts[row.id or ""] = row.text
        for i, entry in enumerate(self.query_one(LoreSection).entries):
            texts[f"lore:{i}"] = entry.content
        return texts

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _edited(self, event: Message) -> None:
        if not self.ready:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._count_now)
        if isinstance(event, Input.Changed) and event.input.id == "f-name" and not self.slug:
            self._show_avatar()

    def _count_now(self) -> None:
        self._timer = None
        if self.no_tokenizer is not None:
            return
        todo = sorted({t for t in self._texts().values() if t and t not in self.counts})
        if todo:
            self._count(todo)
        else:
            self.refresh_counts()

    @work(thread=True, exclusive=True, group="count", exit_on_error=False)
    def _count(self, texts: list[str]) -> None:
        worker = get_current_worker()
        tokenizer = self.app.tokenizer()
        if tokenizer is None:
            self.post_message(NoTokenizer("no model to count with"))
            return
        out: dict[str, int] = {}
        try:
            for text in texts:
                if worker.is_cancelled:
                    break
                out[text] = len(tokenizer.tokenize(text, add_bos=False))
        except Exception as exc:  # noqa: BLE001 - counting is advisory: say so, never crash
            self.post_message(NoTokenizer(str(exc) or exc.__class__.__name__))
            return
        self.post_message(Counted(out))

    @on(Counted)
    def _counted(self, msg: Counted) -> None:
        current = set(self._texts().values())
        self.counts = {t: n for t, n in {**self.counts, **msg.counts}.items() if t in current}
        self.refresh_counts()

    @on(NoTokenizer)
    def _no_tokenizer(self, msg: NoTokenizer) -> None:
        self.no_tokenizer = msg.why
        self.refresh_counts()

    def count_of(self, text: str) -> str:
        """"(N tokens)", "(counting…)" or "(no tokenizer)" for ``text``."""
        if self.no_tokenizer is not None:
            return "(no tokenizer)"
        if not text:
            return f"({_tokens(0)})"
        n = self.counts.get(text)
        return "(counting…)" if n is None else f"({_tokens(n)})"

    def refresh_counts(self) -> None:
        labels = dict(LINE_FIELDS + TEXT_FIELDS)
        texts = self._texts()
        for key, text in texts.items():
            if key.startswith("label-"):
                self.query_one(f"#{key}", Static).update(f"{labels[key[6:]]}  {self.count_of(text)}")
        for i, row in enumerate(self._greetings(), 1):
            row.set_label(f"Greeting {i}  {self.count_of(row.text)}")
        self.query_one(LoreSection).refresh_labels()
        total = self.query_one("#total", Static)
        if self.no_tokenizer is not None:
            total.update(f"Token counts: no tokenizer ({self.no_tokenizer})")
        elif all(not t or t in self.counts for t in texts.values()):
            n = sum(self.counts.get(t, 0) for t in texts.values())
            total.update(f"Total: {_tokens(n)} (every field, greeting and lorebook entry)")
        else:
            total.update("Total: counting…")

    @on(LoreSection.Changed)
    def _lore_changed(self) -> None:
        self.refresh_counts()
        self._count_now()

    # -- buttons -----------------------------------------------------------------
    @on(Button.Pressed)
    async def _button(self, event: Button.Pressed) -> None:
        button = event.button
        if button.id == "add-greeting":
            row = self._greeting_row("")
            await self.query_one("#greetings", Vertical).mount(row)
            row.query_one(TextArea).focus()
            row.scroll_visible()
            self.refresh_counts()
        elif button.has_class("remove-greeting"):
            row = next(a for a in button.ancestors if isinstance(a, GreetingRow))
            await row.remove()
            self.refresh_counts()

    # -- save / export / back ------------------------------------------------------
    def action_save(self) -> bool:
        """Check and save the card; True when it was written."""
        card = self.collect()
        if not card.name:
            self.notify("The character needs a name.", title="Not saved", severity="error", markup=False)
            return False
        try:
            self.slug = self.app.ws.save_character(card, self.slug)
        except ContentRefused as exc:
            reasons = "\n".join(str(r) for r in exc.reasons)
            self.notify(f"Every character must be an adult. This check reads keywords and can misread; "
                        f"reword these if the character is an adult:\n{reasons}",
                        title="Not saved", severity="error", timeout=30, markup=False)
            return False
        except (CandlelitError, OSError) as exc:
            self.notify(str(exc), title="Not saved", severity="error", timeout=20, markup=False)
            return False
        self.card = card
        section = self.query_one(LoreSection)
        if section.edited:  # read back what was written, so the next save starts from it
            section.load(card.character_book)
            section.fill()
        self._saved = card_to_json(self.collect())
        self._set_title()
        self._show_avatar()
        self.notify("Saved", markup=False)
        return True

    def action_export(self) -> None:
        if self.slug is None:
            self.notify("Save the new character first (Ctrl+S).", markup=False)
            return
        if self.is_dirty():
            self.notify("Save your changes first (Ctrl+S): export writes the saved card.", markup=False)
            return
        slug = self.slug

        def ask_path(fmt: str | None) -> None:
            if fmt is None:
                return
            fmt = fmt.strip().lower().lstrip(".")
            if fmt not in EXPORT_FORMATS:
                self.notify(f"Unknown format “{fmt}”: use json, png or charx.", severity="error", markup=False)
                return
            default = str(Path.cwd() / f"{slug}.{fmt}")
            self.app.push_screen(AskScreen(f"Write the {fmt.upper()} file to:", default),
                                 lambda text: confirm(fmt, text))

        def confirm(fmt: str, text: str | None) -> None:
            if not text or not text.strip():
                return
            out = pasted_path(text)

            def replace(yes: bool | None) -> None:
                if yes:
                    self._export(slug, fmt, out)

            if out.exists() and not out.is_dir():
                self.app.push_screen(ConfirmScreen(f"{out} exists. Replace it?"), replace)
            else:
                self._export(slug, fmt, out)

        self.app.push_screen(AskScreen("Export format: json, png or charx", "png"), ask_path)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, slug: str, fmt: str, out: Path) -> None:
        try:
            warnings = self.app.ws.export_card(slug, fmt, out)
        except (CardError, CandlelitError, OSError) as exc:
            self.post_message(ExportFailed(str(exc)))
            return
        self.post_message(Exported(out, warnings))

    @on(Exported)
    def _exported(self, msg: Exported) -> None:
        self.notify(f"Exported to {msg.path}", markup=False)
        for w in msg.warnings:
            self.notify(w, severity="warning", timeout=20, markup=False)

    @on(ExportFailed)
    def _export_failed(self, msg: ExportFailed) -> None:
        self.notify(msg.error, title="Export failed", severity="error", timeout=20, markup=False)

    def _leave(self) -> None:
        self.app.pop_screen()  # not returned: a callback must not await its own screen's removal

    def action_back(self) -> None:
        if not self.is_dirty():
            self.app.pop_screen()
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.app.pop_screen()

        self.app.push_screen(ConfirmScreen("Discard your unsaved changes?"), done)
