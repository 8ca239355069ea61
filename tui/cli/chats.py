"""``candlelit chat import`` and ``candlelit chat export``: chat files in and out.

Wired into ``tui/cli/main.py`` by ``add_parsers`` and ``HANDLERS``. See
docs/ARCHITECTURE.md#the-command-line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tui.cli import terminal
from tui.core import CandlelitError, neutralize

EXIT_USAGE = 2

__all__ = ["HANDLERS", "add_parsers", "chat_export", "chat_import"]


def add_parsers(chat: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``import`` and ``export`` to the ``chat`` subcommands."""
    from tui.core import CHAT_EXPORT_FORMATS

    c_imp = chat.add_parser("import", help="import SillyTavern chat files (.jsonl); prints each new chat's id")
    c_imp.add_argument("paths", nargs="+", metavar="FILE")
    c_imp.add_argument(
        "--character", action="append", metavar="SLUG",
        help="a character of the chat (repeat for a group); default: the names in the file, matched by card name",
    )
    c_imp.add_argument("--persona", metavar="NAME", help="the persona the user lines belong to")
    c_exp = chat.add_parser("export", help="write a chat to a file: SillyTavern JSONL, Markdown, text or our JSONL")
    c_exp.add_argument("chat_id", metavar="CHAT_ID")
    c_exp.add_argument("--format", required=True, choices=CHAT_EXPORT_FORMATS, dest="fmt")
    c_exp.add_argument("-o", "--output", metavar="FILE", help="the file to write (default: standard output)")


def _warn(text: str) -> None:
    print(f"candlelit: warning: {neutralize(text)}", file=sys.stderr)


def chat_import(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import import_st_chat

    ws.install_starters()  # the starters are characters an imported chat may name
    failed = 0
    for raw in args.paths:
        try:
            result = import_st_chat(ws, Path(raw), characters=args.character, persona=args.persona)
        except (CandlelitError, OSError) as exc:
            print(f"candlelit: error: {neutralize(str(exc))}", file=sys.stderr)
            failed += 1
            continue
        for warning in result.warnings:
            _warn(warning)
        for name in result.created_personas:
            _warn(f"added the persona {name!r} (from {Path(raw).name})")
        print(result.info.id, flush=True)
        if ws.config.memory.enabled and result.messages > 40:
            _warn(
                f"memory catches up on this chat in the background when it is opened; or now: "
                f"candlelit chat memory {result.info.id} --catch-up"
            )
    return EXIT_USAGE if failed else 0


def chat_export(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import ChatFileError, export_chat, write_outside

    out = Path(args.output) if args.output else None
    if out is not None and out.is_dir():
        raise ChatFileError(f"{neutralize(str(out))}: is a folder; give the name of the file to write")
    if out is not None and not out.parent.is_dir():
        raise ChatFileError(f"{neutralize(str(out))}: the folder {neutralize(str(out.parent))} does not exist")
    text, torn = export_chat(ws, args.chat_id, args.fmt)
    for side in torn:
        _warn(f"an incomplete line from an interrupted write was set aside in {side}")
    if ws.encrypted:
        where = str(out) if out is not None else "standard output"
        _warn(f"this profile is encrypted; the export to {where} is plain text")
    if out is not None:
        write_outside(out, text)
        print(out)
        return 0
    stdout = terminal.raw()  # a file's bytes as they are, unless they reach a terminal
    if stdout.isatty():
        text = neutralize(text)  # names and messages must not drive the terminal
    stdout.write(text)
    if text and not text.endswith("\n") and stdout.isatty():
        stdout.write("\n")
    stdout.flush()
    return 0


HANDLERS = {("chat", "import"): chat_import, ("chat", "export"): chat_export}
