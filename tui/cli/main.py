"""The ``candlelit`` command: the TUI, and headless subcommands.

User errors (bad config, unknown chat, missing model, ...) print one line
on stderr and exit 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tui import __version__
from tui.cli.common import EXIT_USAGE, Parser, UserError, model_override
from tui.core import CandlelitError


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="candlelit", description="A local, private roleplay client.")
    p.add_argument("--version", action="version", version=f"candlelit {__version__}")
    p.add_argument("--model", metavar="PATH", help="a local GGUF file (overrides config and CANDLELIT_MODEL)")
    p.add_argument(
        "--engine", metavar="URL",
        help="your own llama-server at URL (or openai+URL for an OpenAI-compatible one); overrides [engine]",
    )
    p.add_argument("--profile", metavar="NAME", help="profile to use (default: chat.profile from config)")
    p.add_argument(
        "--passphrase-stdin", dest="unlock_stdin", action="store_true",
        help="an encrypted profile: read its passphrase from stdin (one line) instead of asking",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    from tui.cli import bench as cli_bench
    from tui.cli import cards as cli_cards
    from tui.cli import chat_commands as cli_chat
    from tui.cli import chats as cli_chats
    from tui.cli import lore as cli_lore
    from tui.cli import privacy as cli_privacy
    from tui.cli.group import add_persona_parser

    cli_cards.add_parsers(sub, Parser)
    cli_lore.add_parsers(sub, Parser)
    add_persona_parser(sub, Parser)
    chat = cli_chat.add_parsers(sub, Parser)
    cli_chats.add_parsers(chat, Parser)  # chat import, chat export
    cli_chat.add_prompt_parser(sub, Parser)
    cli_bench.add_parsers(sub, Parser)
    cli_privacy.add_parsers(sub, Parser)
    return p


def main(argv: Sequence[str] | None = None) -> int:
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
            raise
        print(f"candlelit: error: {msg}", file=sys.stderr)
        return code


def _describe(exc: Exception) -> tuple[str | None, int]:
    if isinstance(exc, CandlelitError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or exc}{where}; nothing already saved was lost", 1
    return None, 1


def _workspace(args: argparse.Namespace, *, unlock: bool = True):
    """The profile's workspace; an encrypted profile is unlocked first
    (passphrase from a no-echo prompt, or stdin with --passphrase-stdin)
    unless ``unlock`` is False (the TUI asks on its own lock screen)."""
    from tui.core import Workspace, is_encrypted, load_config, recover, replace, resolve

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
    ws = _workspace(args, unlock=False)
    from tui.ui.app import make_app

    app = make_app(ws, model_override=model_override(args))
    app.run()
    return 0
