"""Chat files in the app: import a SillyTavern chat from the home screen
(the same path prompt as cards: a ``.jsonl`` path is a chat), export the
open chat from the command palette (Ctrl+P).

Both run the file work in a thread worker and report with notifications
(always literal: names and paths come from files). The export commands act
on whatever screen has a ``chat_id`` (the chat screen), so the chat screen
itself needs no code for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen
from textual.widgets import OptionList
from textual.widgets.option_list import OptionDoesNotExist

from tui.core import CandlelitError, StoreError
from tui.ui.base import AppBase
from tui.ui.screens.hooks import CandlelitScreen

EXPORT_LABELS = (
    ("st", "SillyTavern (.jsonl)"),
    ("md", "Markdown (.md)"),
    ("txt", "plain text (.txt)"),
    ("jsonl", "Candlelit JSONL (.jsonl)"),
)


def is_chat_file(path: Path) -> bool:
    """A path the home screen's import prompt takes for a chat file."""
    return path.suffix.lower() == ".jsonl"


# -- import -----------------------------------------------------------------------


def import_chat_file(screen: CandlelitScreen, path: Path) -> None:
    """Import ``path`` in a thread; the home screen lists and highlights the
    new chat, or shows why nothing was imported."""
    from tui.core import import_st_chat

    app = screen.app
    ws = app.ws

    def work() -> None:
        try:
            result = import_st_chat(ws, path)
        except (CandlelitError, OSError) as exc:
            app.call_from_thread(
                app.notify, str(exc), title="Import failed", severity="error", timeout=30, markup=False
            )
            return
        app.call_from_thread(_imported, screen, result)

    screen.run_worker(work, thread=True, group="import", exit_on_error=False)


def _imported(screen: Screen, result: Any) -> None:
    if isinstance(screen, CandlelitScreen) and screen.is_mounted:
        screen.refresh_lists()
        try:
            chats = screen.query_one("#chats", OptionList)
            chats.highlighted = chats.get_option_index(result.info.id)
        except (OptionDoesNotExist, LookupError):
            pass
    kind = "group scene" if result.group else "chat"
    screen.app.notify(
        f"Imported the {kind} “{result.info.title}”: {result.messages:,} messages.", markup=False
    )
    for name in result.created_personas:
        screen.app.notify(f"Added the persona {name}.", markup=False)
    for warning in result.warnings:
        screen.app.notify(warning, severity="warning", timeout=20, markup=False)


# -- export -----------------------------------------------------------------------


def export_commands(app: AppBase, screen: Screen) -> Iterator[SystemCommand]:
    """Palette entries exporting the chat ``screen`` shows (none elsewhere)."""
    chat_id = screen.chat_shown() if isinstance(screen, CandlelitScreen) else None
    if not chat_id or app.hidden:
        return
    for fmt, label in EXPORT_LABELS:
        yield SystemCommand(
            f"Export this chat: {label}",
            "Write the whole chat to a file you name",
            partial(ask_export, app, chat_id, fmt),
        )


def ask_export(app: AppBase, chat_id: str, fmt: str) -> None:
    """Ask where to write the export, then write it."""
    from tui.core import export_name
    from tui.ui.modals.dialogs import AskScreen

    try:
        info = app.ws.chat(chat_id)
    except (CandlelitError, OSError) as exc:
        app.notify(str(exc), title="Export failed", severity="error", markup=False)
        return
    label = dict(EXPORT_LABELS)[fmt]
    question = f"Export “{info.title}” as {label} to which file?"
    if app.ws.encrypted:
        question += " This profile is encrypted: the file will be plain text."
    default = str(Path.home() / export_name(info, fmt))

    def answered(text: str | None) -> None:
        if text and text.strip():
            _confirm_and_write(app, chat_id, fmt, text)

    app.push_screen(AskScreen(question, default), answered)


def _confirm_and_write(app: AppBase, chat_id: str, fmt: str, text: str) -> None:
    from tui.ui.modals.confirm import ConfirmScreen
    from tui.ui.screens.studio import pasted_path

    path = pasted_path(text)
    if path.is_dir():
        app.notify(f"{path} is a folder; give the name of the file to write.", severity="error", markup=False)
        return
    if path.exists():
        app.push_screen(
            ConfirmScreen(f"{path} exists. Replace it?"),
            lambda yes: yes and _write(app, chat_id, fmt, path),
        )
        return
    _write(app, chat_id, fmt, path)


def _write(app: AppBase, chat_id: str, fmt: str, path: Path) -> None:
    from tui.core import export_chat, write_outside

    ws = app.ws

    def work() -> None:
        try:
            if not path.parent.is_dir():
                raise StoreError(f"{path}: the folder {path.parent} does not exist")
            text, _torn = export_chat(ws, chat_id, fmt)
            write_outside(path, text)
        except (CandlelitError, OSError) as exc:
            app.call_from_thread(
                app.notify, str(exc), title="Export failed", severity="error", timeout=20, markup=False
            )
            return
        note = " (plain text: this profile is encrypted)" if ws.encrypted else ""
        app.call_from_thread(app.notify, f"Exported to {path}{note}.", markup=False)

    app.run_worker(work, thread=True, group="export", exit_on_error=False)
