"""The ``candlelit`` command: the TUI, and headless subcommands.

User errors (bad config, unknown chat, missing model, ...) print one line
on stderr and exit 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tui import __version__
from tui.cli.common import EXIT_USAGE, Parser, UserError, add_global_options, model_override
from tui.core import CandlelitError

EXIT_INTERNAL = 70  # EX_SOFTWARE


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="candlelit", description="A local, private roleplay client.")
    p.add_argument("--version", action="version", version=f"candlelit {__version__}")
    add_global_options(p)  # with their defaults (replacing the suppressed ones)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    from tui.cli import bench as cli_bench
    from tui.cli import cards as cli_cards
    from tui.cli import chat_commands as cli_chat
    from tui.cli import chats as cli_chats
    from tui.cli import lore as cli_lore
    from tui.cli import privacy as cli_privacy
    from tui.cli import tripwire as cli_tripwire
    from tui.cli.group import add_persona_parser

    cli_cards.add_parsers(sub, Parser)
    cli_lore.add_parsers(sub, Parser)
    cli_tripwire.add_parsers(sub, Parser)
    add_persona_parser(sub, Parser)
    chat = cli_chat.add_parsers(sub, Parser)
    cli_chats.add_parsers(chat, Parser)  # chat import, chat export
    cli_chat.add_prompt_parser(sub, Parser)
    cli_bench.add_parsers(sub, Parser)
    cli_privacy.add_parsers(sub, Parser)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from tui.cli.terminal import install
    from tui.core import no_core_dumps

    no_core_dumps()  # before any key or chat is in memory (tui/core/privacy/hardening.py)
    install()  # nothing written reaches the terminal as a command (tui/cli/terminal.py)
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("\ncandlelit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `candlelit chat show X | head`: not an error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as exc:  # mapped to one line below (or raised again)
        msg, code = _describe(exc)
        if msg is None:
            if os.environ.get("CANDLELIT_DEBUG"):
                raise
            # a bug: one line, no traceback (its values and messages may hold chat text)
            where = exc.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            at = f" in {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
            print(
                f"candlelit: internal error ({type(exc).__name__}{at}); nothing already saved was lost. "
                "Please report it; CANDLELIT_DEBUG=1 shows the details (they may include chat text)",
                file=sys.stderr,
            )
            return EXIT_INTERNAL
        print(f"candlelit: error: {msg}", file=sys.stderr)
        return code


def _describe(exc: Exception) -> tuple[str | None, int]:
    if isinstance(exc, CandlelitError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; nothing already saved was lost", 1
    if isinstance(exc, UnicodeError):  # a lone surrogate from a file, bytes that are not UTF-8 in an argument
        return (
            "the text holds characters that are not valid Unicode (a lone surrogate, or bytes that are "
            "not UTF-8); fix the file or the argument; nothing already saved was lost"
        ), EXIT_USAGE
    return None, 1


_HOLDS: list = []  # this process's holds on the profiles it uses


def _workspace(args: argparse.Namespace, *, unlock: bool = True, hold: bool = True):
    """The profile's workspace; an encrypted profile is unlocked first
    (passphrase from a no-echo prompt, or stdin with --passphrase-stdin)
    unless ``unlock`` is False (the TUI asks on its own lock screen)."""
    from tui.core import Workspace, hold_profile, is_encrypted, load_config, recover, replace, resolve

    p = resolve()
    cfg = load_config(p.config_file)
    if args.profile:
        if args.profile != cfg.chat.profile and not p.profile(args.profile).is_dir():
            # a typo must not quietly start an empty profile
            raise UserError(
                f"there is no profile named {args.profile!r}; see `candlelit profile list`, "
                f"or create it with `candlelit profile create {args.profile}`"
            )
        cfg = replace(cfg, chat={"profile": args.profile})
    if getattr(args, "engine", None):
        kind, url = "llama-server", args.engine
        if url.startswith("openai+"):
            kind, url = "openai", url.removeprefix("openai+")
        cfg = replace(cfg, engine={"kind": kind, "url": url})
    folder = p.profile(cfg.chat.profile)
    if hold:
        # for the rest of this process: no other process converts, renames or
        # deletes the profile meanwhile (ProfileBusy while one is doing so)
        _HOLDS.append(hold_profile(folder))
    if folder.parent.is_dir():
        recover(folder)  # finish an encryption or decryption a crash cut short
    if not unlock or not is_encrypted(folder):
        if getattr(args, "unlock_stdin", False) and unlock:
            raise UserError(f"profile '{cfg.chat.profile}' is not encrypted: drop --passphrase-stdin")
        return Workspace(p, cfg)
    from tui.cli.privacy import unlock_profile

    return Workspace(p, cfg, vault=unlock_profile(folder, cfg.chat.profile, args.unlock_stdin))


def _dispatch(args: argparse.Namespace) -> int:
    from tui.cli import bench as cli_bench
    from tui.cli import cards as cli_cards
    from tui.cli import chat_commands as cli_chat
    from tui.cli import lore as cli_lore
    from tui.cli import tripwire as cli_tripwire
    from tui.cli.chats import HANDLERS as CHAT_FILE_HANDLERS
    from tui.cli.privacy import HANDLERS as PRIVACY_HANDLERS

    if args.command is None:
        return _run_tui(args)
    key = (args.command, getattr(args, "action", None))
    if key in PRIVACY_HANDLERS:  # profile and doctor commands manage profiles themselves
        return PRIVACY_HANDLERS[key](None, args)
    ws = _workspace(args)
    handler = {
        **cli_cards.HANDLERS,
        **cli_lore.HANDLERS,
        **cli_tripwire.HANDLERS,
        **cli_chat.HANDLERS,
        ("persona", "add"): _persona("persona_add"),
        ("persona", "list"): _persona("persona_list"),
        ("persona", "remove"): _persona("persona_remove"),
        **cli_bench.HANDLERS,
        **CHAT_FILE_HANDLERS,
    }[(args.command, getattr(args, "action", None))]
    return handler(ws, args)


def _persona(name: str):
    def run(ws, args) -> int:
        from tui.cli import group as cli_group

        return getattr(cli_group, name)(ws, args)

    return run


def _run_tui(args: argparse.Namespace) -> int:
    if args.unlock_stdin:
        raise UserError("the app asks for the passphrase on its lock screen: drop --passphrase-stdin")
    ws = _workspace(args, unlock=False, hold=False)  # the app holds the profile it shows
    from tui.ui.app import make_app

    app = make_app(ws, model_override=model_override(args))
    app.run()
    return 0
