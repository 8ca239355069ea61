"""``candlelit lore ...``: standalone lorebooks, active in every chat of the profile."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.cli.common import EXIT_USAGE, UserError
from tui.cli.terminal import print_json


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``lore`` and its actions to the top-level subcommands."""
    lore = sub.add_parser("lore", help="standalone lorebooks (active in every chat of the profile)").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    lore.required = True
    l_imp = lore.add_parser(
        "import", help="import lorebook files (lorebook_v3, character_book or SillyTavern world info)"
    )
    l_imp.add_argument("paths", nargs="+", metavar="PATH")
    l_list = lore.add_parser("list", help="list imported lorebooks")
    l_list.add_argument("--json", action="store_true")
    l_del = lore.add_parser("delete", help="delete an imported lorebook")
    l_del.add_argument("slug", metavar="SLUG")


def _lore_import(ws, args) -> int:
    from pathlib import Path

    from tui.core import LoreError

    failed = 0
    for raw in args.paths:
        try:
            slug, _book = ws.import_lorebook(Path(raw))
        except (LoreError, OSError) as exc:
            print(f"candlelit: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(slug, flush=True)
    return EXIT_USAGE if failed else 0


def _lore_list(ws, args) -> int:
    books = ws.standalone_books()
    for problem in ws.problems:
        print(f"candlelit: warning: {problem}", file=sys.stderr)
    if args.json:
        out = [{"slug": slug, "name": b.name, "entries": len(b.entries)} for slug, b in books]
        print_json(out)
        return 0
    if not books:
        print("no lorebooks yet (import one with `candlelit lore import PATH`)")
    for slug, b in books:
        print(f"{slug}  {b.name or '(unnamed)'} — {len(b.entries)} entries")
    return 0


def _lore_delete(ws, args) -> int:
    from tui.core import check_id

    path = ws.lorebook_dir / f"{check_id(args.slug, 'lorebook')}.json"
    if not path.is_file():
        raise UserError(f"no lorebook '{args.slug}' (see `candlelit lore list`)")
    path.unlink()
    return 0


HANDLERS = {
    ("lore", "import"): _lore_import,
    ("lore", "list"): _lore_list,
    ("lore", "delete"): _lore_delete,
}
