"""What the CLI's command modules share: the one-line parser, ``UserError``, the engine, state and warnings."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from tui.core import CandlelitError

EXIT_USAGE = 2


class UserError(CandlelitError):
    """One clear line for the user; exit code 2."""


def add_global_options(p: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """``--model``, ``--engine``, ``--profile``, ``--passphrase-stdin``: before the command,
    and (``suppress``: absent ones leave the value from before the command)
    after it too, where people type them: ``chat show ID --profile Rosa``."""
    none: dict = {"default": argparse.SUPPRESS} if suppress else {}
    p.add_argument(
        "--model", metavar="PATH", help="a local GGUF file (overrides config and CANDLELIT_MODEL)", **none
    )
    p.add_argument(
        "--engine", metavar="URL",
        help="your own llama-server at URL (or openai+URL for an OpenAI-compatible one); overrides [engine]",
        **none,
    )
    p.add_argument(
        "--profile", metavar="NAME", help="profile to use (default: chat.profile from config)", **none
    )
    p.add_argument(
        "--passphrase-stdin", dest="unlock_stdin", action="store_true",
        help="an encrypted profile: read its passphrase from stdin (one line) instead of asking", **none
    )


class Parser(argparse.ArgumentParser):
    """One-line errors; every command also takes the global options. A
    command's own option of the same name wins (``profile create
    --passphrase-stdin`` reads the new passphrase)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("conflict_handler", "resolve")
        super().__init__(*args, **kwargs)
        add_global_options(self, suppress=True)

    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.print_usage(sys.stderr)
        print(f"candlelit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def model_override(args: argparse.Namespace) -> str | None:
    return args.model or os.environ.get("CANDLELIT_MODEL") or None


def open_engine(ws, args: argparse.Namespace, *, vocab_only: bool = False):
    from tui.core import text_progress

    return ws.connect_engine(model_override(args), progress=text_progress(), vocab_only=vocab_only)


def remember(ws, **changes) -> None:
    """What the app itself remembers goes to state.toml, never config.toml."""
    from tui.core import update_state

    if ws.encrypted:
        # state.toml is a plain file outside the profile: an encrypted profile's
        # chat ids and character names stay out of it
        changes = {}
    update_state(ws.paths.state_file, profile=ws.profile_name, **changes)


def warn_torn(report) -> None:  # report: a LoadReport
    for side in report.torn:
        print(
            f"candlelit: warning: an incomplete line from an interrupted write was set aside in {side}",
            file=sys.stderr,
        )


def messages(ws, chat_id: str):
    msgs, report = ws.store.messages(chat_id)
    warn_torn(report)
    return msgs


def check(ws, chat_id: str) -> None:
    """Warn about lines set aside, without reading the whole chat."""
    warn_torn(ws.store.check(chat_id))


def sigterm_cancels(cancel: threading.Event) -> None:
    """SIGTERM stops generation like Esc does: the partial reply is kept."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: cancel.set())
