"""``candlelit tripwire ...``: the real names the tripwire catches, kept in the
profile (encrypted with it when it is encrypted), not in the plain config."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli.terminal import print_json


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    tw = sub.add_parser(
        "tripwire", help="real names to warn about before sending (kept in the profile, encrypted with it)"
    ).add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    tw.required = True
    add = tw.add_parser("add", help="add a real name (read from stdin with -, so it stays out of shell history)")
    add.add_argument("name", metavar="NAME")
    rm = tw.add_parser("remove", help="remove a name")
    rm.add_argument("name", metavar="NAME")
    ls = tw.add_parser("list", help="the names the tripwire catches")
    ls.add_argument("--json", action="store_true")


def _name(args) -> str:
    import sys

    from tui.cli.common import UserError

    name = sys.stdin.readline().strip() if args.name == "-" else args.name.strip()
    if not name:
        raise UserError("give a name (or - and the name on stdin)")
    return name


def _add(ws, args) -> int:
    name = _name(args)
    own = ws.tripwire_names()[len(ws.config.privacy.deny_names):]
    ws.set_tripwire_names([*own, name])
    print(f"the tripwire now also catches that name ({len(ws.tripwire_names())} in all)")
    return 0


def _remove(ws, args) -> int:
    from tui.cli.common import UserError

    name = _name(args)
    own = list(ws.tripwire_names()[len(ws.config.privacy.deny_names):])
    match = [n for n in own if n.casefold() == name.casefold()]
    if not match:
        if name.casefold() in (n.casefold() for n in ws.config.privacy.deny_names):
            raise UserError("that name is in [privacy] deny_names in your config file: remove it there")
        raise UserError("that name is not in this profile's tripwire list")
    ws.set_tripwire_names([n for n in own if n not in match])
    print("removed")
    return 0


def _list(ws, args) -> int:
    names = ws.tripwire_names()
    if args.json:
        print_json({"names": list(names)})
        return 0
    for n in names:
        print(n)
    if not names:
        print("no names yet (add one with `candlelit tripwire add NAME`)")
    return 0


HANDLERS = {("tripwire", "add"): _add, ("tripwire", "remove"): _remove, ("tripwire", "list"): _list}
