"""``candlelit profile …`` and ``candlelit doctor``.

Kept apart from ``tui/cli.py``, which wires them in with two lines:
``add_parsers(sub, parser_class)`` adds the subcommands and ``HANDLERS``
maps ``(command, action)`` to a handler ``(ws, args) -> exit code``.

A passphrase is never taken from the command line or the environment: it
is read from stdin with ``--passphrase-stdin`` (one line), or prompted for
on a terminal without echo. Deleting a profile asks for its name on a
terminal and refuses without ``--yes`` anywhere else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["HANDLERS", "PrivacyCliError", "add_parsers", "read_passphrase"]

EXIT_USAGE = 2


class PrivacyCliError(Exception):
    """One clear line for the user; exit code 2."""


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``profile`` and ``doctor`` to the ``candlelit`` subcommands."""
    prof = sub.add_parser(
        "profile", help="profiles: separate spaces (one per partner, a shared one)"
    ).add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    prof.required = True
    p_list = prof.add_parser("list", help="list profiles (* = the one in use)")
    p_list.add_argument("--json", action="store_true")
    p_create = prof.add_parser("create", help="create an empty profile")
    p_create.add_argument("name", metavar="NAME")
    p_create.add_argument(
        "--encrypted", action="store_true", help="give it a passphrase-protected key (age)"
    )
    p_create.add_argument(
        "--shared", action="store_true", help="mark it as a couple's shared profile"
    )
    p_create.add_argument(
        "--passphrase-stdin", action="store_true", help="read the passphrase from stdin (one line)"
    )
    p_rename = prof.add_parser("rename", help="rename a profile")
    p_rename.add_argument("old", metavar="OLD")
    p_rename.add_argument("new", metavar="NEW")
    p_delete = prof.add_parser("delete", help="delete a profile and every file of it")
    p_delete.add_argument("name", metavar="NAME")
    p_delete.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")

    doc = sub.add_parser(
        "doctor", help="locations, permissions, encryption, model, GPU offload, network"
    )
    doc.add_argument("--json", action="store_true")


# --------------------------------------------------------------------------
# helpers


def _err(text: str) -> None:
    print(f"candlelit: error: {text}", file=sys.stderr)


def _note(text: str) -> None:
    print(f"candlelit: note: {text}", file=sys.stderr)


def _ensure_ws(ws: Any, args: argparse.Namespace) -> Any:
    """The workspace the CLI built, or one built the same way."""
    if ws is not None:
        return ws
    from tui import paths
    from tui.config import load_config, replace
    from tui.core.workspace import Workspace

    p = paths.resolve()
    cfg = load_config(p.config_file)
    if getattr(args, "profile", None):
        cfg = replace(cfg, chat={"profile": args.profile})
    return Workspace(p, cfg)


def read_passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    """One line of stdin with ``--passphrase-stdin``, else a no-echo prompt."""
    if getattr(args, "passphrase_stdin", False):
        line = sys.stdin.readline()
        secret = line[:-1] if line.endswith("\n") else line
        secret = secret[:-1] if secret.endswith("\r") else secret
        if not secret:
            raise PrivacyCliError("no passphrase on stdin (write it as one line)")
        return secret
    if not sys.stdin.isatty():
        raise PrivacyCliError(
            "a passphrase is needed: run this in a terminal, or add --passphrase-stdin "
            "and write the passphrase to stdin"
        )
    secret = getpass.getpass("Passphrase: ")
    if not secret:
        raise PrivacyCliError("the passphrase must not be empty")
    if confirm and getpass.getpass("The same passphrase again: ") != secret:
        raise PrivacyCliError("the two passphrases differ; nothing was created")
    return secret


def _guarded(fn: Callable[[Any, argparse.Namespace], int]) -> Callable[[Any, argparse.Namespace], int]:
    """Map this module's user errors to one line and exit 2 (no traceback)."""

    def run(ws: Any, args: argparse.Namespace) -> int:
        from tui.core.profiles import ProfileError
        from tui.core.vault import VaultError

        try:
            return fn(_ensure_ws(ws, args), args)
        except (PrivacyCliError, ProfileError, VaultError) as exc:
            _err(str(exc))
            return EXIT_USAGE

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------
# profile


def _profile_list(ws: Any, args: argparse.Namespace) -> int:
    from tui.core.profiles import list_profiles

    profiles = list_profiles(ws.paths)
    current = ws.profile_name
    if args.json:
        out = [{**p.to_json(), "current": p.name == current} for p in profiles]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if not profiles:
        print(f"no profiles yet ('{current}' is created when you first use it)")
        return 0
    width = max(len(p.name) for p in profiles)
    for p in profiles:
        mark = "*" if p.name == current else " "
        tags = [t for t, on in (("shared", p.shared), ("encrypted", p.encrypted)) if on]
        parts = tags + [_plural(p.chats, "chat"), _plural(p.characters, "character")]
        if p.problem:
            parts.append(f"problem: {p.problem}")
        print(f"{mark} {p.name:<{width}}  {' · '.join(parts)}")
    if current not in {p.name for p in profiles}:
        print(f"  ('{current}', the profile in use, is created when you first use it)")
    return 0


def _profile_create(ws: Any, args: argparse.Namespace) -> int:
    from tui.core.profiles import ProfileExists, check_name, create_profile

    check_name(args.name)
    if args.passphrase_stdin and not args.encrypted:
        raise PrivacyCliError("--passphrase-stdin only makes sense with --encrypted")
    if ws.paths.profile(args.name).exists():  # before asking for a passphrase
        raise ProfileExists(f"a profile named '{args.name}' already exists")
    passphrase = read_passphrase(args, confirm=True) if args.encrypted else None
    info = create_profile(ws.paths, args.name, shared=args.shared, passphrase=passphrase)
    kind = ("shared " if info.shared else "") + ("encrypted " if info.encrypted else "")
    print(f"created {kind}profile {info.name}")
    if info.encrypted:
        _note(
            "the profile has a passphrase-protected age key (vault.age), but Candlelit does "
            "not yet store chats, characters or settings encrypted: they are plain files, "
            "like in any other profile"
        )
    if info.shared:
        _note("a shared profile is for scenes you play together: both of you can see everything in it")
    print(f"use it with: candlelit --profile {info.name}")
    return 0


def _profile_rename(ws: Any, args: argparse.Namespace) -> int:
    from tui.core.profiles import rename_profile

    info = rename_profile(ws.paths, args.old, args.new)
    print(f"renamed profile {args.old} to {info.name}")
    if ws.config.chat.profile == args.old:
        _note(
            f"your config opens '{args.old}' by default: set profile = \"{info.name}\" under [chat] "
            f"in {ws.paths.config_file}"
        )
    return 0


def _profile_delete(ws: Any, args: argparse.Namespace) -> int:
    from tui.core.profiles import delete_profile, deletion_caveat, profile_info

    info = profile_info(ws.paths, args.name)
    caveat = deletion_caveat(info)
    if not args.yes:
        if not sys.stdin.isatty():
            raise PrivacyCliError(
                f"refusing to delete profile '{info.name}' without --yes (not on a terminal)"
            )
        print(
            f"This deletes profile '{info.name}' ({_plural(info.chats, 'chat')}, "
            f"{_plural(info.characters, 'character')}) with its memory, caches and settings."
        )
        print(caveat)
        answer = input(f"Type {info.name} to delete it: ").strip()
        if answer != info.name:
            print("nothing was deleted")
            return 1
    report = delete_profile(ws.paths, info.name)
    done = "deleted profile " + info.name
    if report.key_destroyed:
        done += " (its key was destroyed first)"
    print(done)
    print(caveat)
    if ws.config.chat.profile == info.name:
        _note(f"your config opens '{info.name}' by default: the next run starts it again, empty")
    return 0


# --------------------------------------------------------------------------
# doctor


def _doctor(ws: Any, args: argparse.Namespace) -> int:
    from tui.core.doctor import diagnose
    from tui.core.models import text_progress

    override, source = None, ""
    if getattr(args, "model", None):
        override, source = args.model, "--model"
    elif os.environ.get("CANDLELIT_MODEL"):
        override, source = os.environ["CANDLELIT_MODEL"], "$CANDLELIT_MODEL"
    report = diagnose(ws, model_override=override, model_source=source, progress=text_progress())
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.healthy else 1


HANDLERS: dict[tuple[str, str | None], Callable[[Any, argparse.Namespace], int]] = {
    ("profile", "list"): _guarded(_profile_list),
    ("profile", "create"): _guarded(_profile_create),
    ("profile", "rename"): _guarded(_profile_rename),
    ("profile", "delete"): _guarded(_profile_delete),
    ("doctor", None): _guarded(_doctor),
}
