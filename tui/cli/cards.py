"""``candlelit card ...``: list, import, show, export and delete characters."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.cli.common import EXIT_USAGE
from tui.cli.terminal import print_json
from tui.core import CandlelitError


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``card`` and its actions to the top-level subcommands."""
    card = sub.add_parser("card", help="characters").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    c_list = card.add_parser("list", help="list characters")
    c_list.add_argument("--json", action="store_true")
    c_import = card.add_parser("import", help="import card files (JSON, PNG or CHARX); prints each slug")
    c_import.add_argument("paths", nargs="+", metavar="PATH")
    c_cshow = card.add_parser("show", help="print a character card")
    c_cshow.add_argument("slug", metavar="SLUG")
    c_cshow.add_argument("--json", action="store_true", help="the normalized card as V3 JSON")
    c_export = card.add_parser("export", help="write a character to a card file")
    c_export.add_argument("slug", metavar="SLUG")
    c_export.add_argument("--format", required=True, choices=("json", "png", "charx"), dest="fmt")
    c_export.add_argument("-o", "--output", required=True, metavar="FILE")
    c_delete = card.add_parser("delete", help="delete a character and its files")
    c_delete.add_argument("slug", metavar="SLUG")
    card.required = True


def _card_list(ws, args) -> int:
    entries = ws.cards()
    for problem in ws.problems:
        print(f"candlelit: warning: {problem}", file=sys.stderr)
    if args.json:
        out = [
            {
                "slug": e.slug,
                "name": e.card.name,
                "display_name": e.card.display_name,
                "description": e.card.short_description(),
                "tags": e.card.tags,
                "creator": e.card.creator,
                "path": str(e.path),
            }
            for e in entries
        ]
        print_json(out)
        return 0
    if not entries:
        print("no characters yet")
    width = max((len(e.slug) for e in entries), default=0)
    for e in entries:
        print(f"{e.slug:<{width}}  {e.card.display_name} — {e.card.short_description()}")
    return 0


def _card_import(ws, args) -> int:
    from pathlib import Path

    from tui.core import CardError, import_card_file

    ws.install_starters()  # first, so an imported "Mara" cannot take a starter's slug
    failed = 0
    for raw in args.paths:
        try:
            result = import_card_file(ws.store, Path(raw))
        except (CardError, CandlelitError) as exc:
            print(f"candlelit: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for warning in result.warnings:
            print(f"candlelit: warning: {warning}", file=sys.stderr)
        print(result.slug, flush=True)
    return EXIT_USAGE if failed else 0


def _card_show(ws, args) -> int:
    from tui.core import card_to_v3

    entry = ws.card(args.slug)
    card = entry.card
    if args.json:
        print_json(card_to_v3(card))
        return 0
    from tui.core import avatar_path

    entries = (card.character_book or {}).get("entries")
    title = card.name if not card.nickname or card.nickname == card.name else f"{card.name} ({card.nickname})"
    print(f"# {title}  [{entry.slug}]")
    meta = [
        ("tags", ", ".join(card.tags)),
        ("creator", card.creator),
        ("version", card.character_version),
        ("avatar", str(avatar_path(ws.store, entry.slug) or "")),
        ("greetings", str(1 + len(card.alternate_greetings)) if card.first_mes else str(len(card.alternate_greetings))),
        ("lorebook", f"{len(entries)} entries" if isinstance(entries, list) else ""),
    ]
    for key, value in meta:
        if value:
            print(f"{key}: {value}")
    for key in ("description", "personality", "scenario", "first_mes", "mes_example",
                "system_prompt", "post_history_instructions", "creator_notes"):
        value = getattr(card, key).strip()
        if value:
            print(f"\n## {key}\n{value}")
    return 0


def _card_export(ws, args) -> int:
    from pathlib import Path

    from tui.core import export_card

    ws.install_starters()
    for warning in export_card(ws.store, args.slug, args.fmt, Path(args.output)):
        print(f"candlelit: warning: {warning}", file=sys.stderr)
    print(args.output)
    return 0


def _card_delete(ws, args) -> int:
    from tui.core import delete_character

    ws.install_starters()  # first, so a deleted starter is remembered and stays deleted
    delete_character(ws.store, args.slug)
    print(f"deleted {args.slug}")
    return 0


HANDLERS = {
    ("card", "list"): _card_list,
    ("card", "import"): _card_import,
    ("card", "show"): _card_show,
    ("card", "export"): _card_export,
    ("card", "delete"): _card_delete,
}
