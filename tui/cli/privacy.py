"""``candlelit profile …`` and ``candlelit doctor``.

Wired into ``tui/cli/main.py`` by ``add_parsers`` and ``HANDLERS``; a
passphrase never comes from the command line or the environment. See
docs/ARCHITECTURE.md#the-command-line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.cli.terminal import print_json
from tui.core import CandlelitError

__all__ = ["HANDLERS", "PrivacyCliError", "add_parsers", "read_passphrase"]

EXIT_USAGE = 2


class PrivacyCliError(CandlelitError):
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
    for action, text in (
        ("encrypt", "encrypt a plain profile in place (age; nothing lost if interrupted)"),
        ("decrypt", "turn an encrypted profile back into plain files, in place"),
        ("passphrase", "change an encrypted profile's passphrase"),
    ):
        p_conv = prof.add_parser(action, help=text)
        p_conv.add_argument("name", metavar="NAME")
        p_conv.add_argument(
            "--passphrase-stdin", action="store_true",
            help="read the passphrase from stdin (passphrase: old, then new; one per line)",
        )
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
    from tui.core import Workspace, load_config, replace, resolve

    p = resolve()
    cfg = load_config(p.config_file)
    if getattr(args, "profile", None):
        cfg = replace(cfg, chat={"profile": args.profile})
    return Workspace(p, cfg)


def _read_secret(from_stdin: bool, prompt: str, no_terminal: str) -> str:
    """One line of stdin when ``from_stdin``, else a no-echo ``prompt`` on a
    terminal; ``no_terminal`` is the error when there is neither."""
    if from_stdin:
        line = sys.stdin.readline()
        secret = line.removesuffix("\n")
        secret = secret.removesuffix("\r")
        if not secret:
            raise PrivacyCliError("no passphrase on stdin (write it as one line)")
        return secret
    if not sys.stdin.isatty():
        raise PrivacyCliError(no_terminal)
    return getpass.getpass(prompt)


def read_passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    """One line of stdin with ``--passphrase-stdin``, else a no-echo prompt."""
    from_stdin = getattr(args, "passphrase_stdin", False)
    secret = _read_secret(
        from_stdin, "Passphrase: ",
        "a passphrase is needed: run this in a terminal, or add --passphrase-stdin "
        "and write the passphrase to stdin",
    )
    if confirm:  # a new passphrase: say so if it looks guessable (a hint, not a refusal)
        from tui.core import passphrase_hint

        hint = passphrase_hint(secret) if secret else None
        if hint:
            print(f"candlelit: warning: {hint}", file=sys.stderr)
    if from_stdin:
        return secret
    if not secret:
        raise PrivacyCliError("the passphrase must not be empty")
    if confirm and getpass.getpass("The same passphrase again: ") != secret:
        raise PrivacyCliError("the two passphrases differ; nothing was created")
    return secret


def unlock_profile(folder: Path, name: str, from_stdin: bool) -> Any:
    """Open an encrypted profile's key: one line of stdin, or a no-echo prompt."""
    from tui.core import WrongPassphrase, unlock

    secret = _read_secret(
        from_stdin, f"Passphrase for profile {name}: ",
        f"profile '{name}' is encrypted: run this in a terminal to be asked for its "
        "passphrase, or add --passphrase-stdin (before the command) and write it to stdin",
    )
    try:
        return unlock(folder, secret)
    except WrongPassphrase:
        raise PrivacyCliError(f"wrong passphrase for profile '{name}'; nothing was read or changed") from None


def _guarded(fn: Callable[[Any, argparse.Namespace], int]) -> Callable[[Any, argparse.Namespace], int]:
    """Map this module's user errors to one line and exit 2 (no traceback)."""

    def run(ws: Any, args: argparse.Namespace) -> int:
        from tui.core import ProfileError, VaultError

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
    from tui.core import list_profiles

    profiles = list_profiles(ws.paths)
    current = ws.profile_name
    if args.json:
        out = [{**p.to_json(), "current": p.name == current} for p in profiles]
        print_json(out)
        return 0
    if not profiles:
        print(f"no profiles yet ('{current}' is created when you first use it)")
        return 0
    width = max(len(p.name) for p in profiles)
    for p in profiles:
        mark = "*" if p.name == current else " "
        tags = [t for t, on in (("shared", p.shared), ("encrypted", p.encrypted)) if on]
        if p.chats is None or p.characters is None:
            parts = tags + ["locked"]
        else:
            parts = tags + [_plural(p.chats, "chat"), _plural(p.characters, "character")]
        if p.problem:
            parts.append(f"problem: {p.problem}")
        print(f"{mark} {p.name:<{width}}  {' · '.join(parts)}")
    if current not in {p.name for p in profiles}:
        print(f"  ('{current}', the profile in use, is created when you first use it)")
    return 0


def _profile_create(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import ProfileExists, check_name, create_profile

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
            "everything it stores is age-encrypted; the passphrase cannot be recovered if "
            "you forget it. Non-interactive commands read it with --passphrase-stdin"
        )
    if info.shared:
        _note("a shared profile is for scenes you play together: both of you can see everything in it")
    print(f"use it with: candlelit --profile {info.name}")
    return 0


def _profile_rename(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import rename_profile

    info = rename_profile(ws.paths, args.old, args.new)
    print(f"renamed profile {args.old} to {info.name}")
    if ws.config.chat.profile == args.old:
        _note(
            f"your config opens '{args.old}' by default: set profile = \"{info.name}\" under [chat] "
            f"in {ws.paths.config_file}"
        )
    return 0


def _profile_delete(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import delete_profile, deletion_caveat, profile_info

    info = profile_info(ws.paths, args.name)
    caveat = deletion_caveat(info)
    if not args.yes:
        if not sys.stdin.isatty():
            raise PrivacyCliError(
                f"refusing to delete profile '{info.name}' without --yes (not on a terminal)"
            )
        what = (
            "encrypted"
            if info.chats is None or info.characters is None
            else f"{_plural(info.chats, 'chat')}, {_plural(info.characters, 'character')}"
        )
        print(f"This deletes profile '{info.name}' ({what}) with its memory, caches and settings.")
        print(caveat)
        answer = input(f"Type {info.name} to delete it: ").strip()
        if answer != info.name:
            print("nothing was deleted")
            return 1
    report = delete_profile(ws.paths, info.name)
    done = "deleted profile " + info.name
    if report.key_destroyed:
        done += " (its key file was overwritten and removed first)"
    print(done)
    print(caveat)
    if ws.config.chat.profile == info.name:
        _note(f"your config opens '{info.name}' by default: the next run starts it again, empty")
    return 0


def _profile_encrypt(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import encrypt_profile, profile_info

    info = profile_info(ws.paths, args.name)
    if info.encrypted:
        raise PrivacyCliError(f"profile '{info.name}' is already encrypted")
    passphrase = read_passphrase(args, confirm=True)
    encrypt_profile(ws.paths, info.name, passphrase)
    print(f"encrypted profile {info.name}: every file it holds is now age-encrypted")
    _note(
        "the plain files were deleted; on SSDs, in snapshots and in backups old copies can "
        "survive. Close any running Candlelit that had this profile open before using it again"
    )
    return 0


def _profile_decrypt(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import decrypt_profile, profile_info

    info = profile_info(ws.paths, args.name)
    if not info.encrypted:
        raise PrivacyCliError(f"profile '{info.name}' is not encrypted")
    passphrase = read_passphrase(args, confirm=False)
    decrypt_profile(ws.paths, info.name, passphrase)
    print(f"decrypted profile {info.name}: its files are plain again (readable by anyone with access to them)")
    return 0


def _profile_passphrase(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import WrongPassphrase, change_passphrase, profile_info

    info = profile_info(ws.paths, args.name)
    if not info.encrypted:
        raise PrivacyCliError(f"profile '{info.name}' is not encrypted")
    old = _read_secret(
        args.passphrase_stdin, "Current passphrase: ",
        "run this in a terminal, or add --passphrase-stdin (old, then new, one per line)",
    )
    new = read_passphrase(args, confirm=True)  # (no second asking on stdin)
    try:
        change_passphrase(info.path, old, new)
    except WrongPassphrase:
        raise PrivacyCliError("wrong passphrase; nothing was changed") from None
    print(f"changed the passphrase of profile {info.name} (the files did not need rewriting)")
    _note("an old copy of vault.age (in a backup) still opens with the old passphrase")
    return 0


# --------------------------------------------------------------------------
# doctor


def _doctor(ws: Any, args: argparse.Namespace) -> int:
    from tui.cli.doctor import diagnose
    from tui.core import text_progress

    override, source = None, ""
    if getattr(args, "model", None):
        override, source = args.model, "--model"
    elif os.environ.get("CANDLELIT_MODEL"):
        override, source = os.environ["CANDLELIT_MODEL"], "$CANDLELIT_MODEL"
    report = diagnose(ws, model_override=override, model_source=source, progress=text_progress())
    if args.json:
        print_json(report.to_json())
    else:
        print("\n".join(report.lines()))
    return 0 if report.healthy else 1


HANDLERS: dict[tuple[str, str | None], Callable[[Any, argparse.Namespace], int]] = {
    ("profile", "list"): _guarded(_profile_list),
    ("profile", "create"): _guarded(_profile_create),
    ("profile", "rename"): _guarded(_profile_rename),
    ("profile", "delete"): _guarded(_profile_delete),
    ("profile", "encrypt"): _guarded(_profile_encrypt),
    ("profile", "decrypt"): _guarded(_profile_decrypt),
    ("profile", "passphrase"): _guarded(_profile_passphrase),
    ("doctor", None): _guarded(_doctor),
}
