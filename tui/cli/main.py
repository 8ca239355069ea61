"""The ``candlelit`` command: the TUI, and headless subcommands.

User errors (bad config, unknown chat, missing model, ...) print one line
on stderr and exit 2; never a traceback.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from tui import __version__

EXIT_USAGE = 2


class UserError(CandlelitError):
    """One clear line for the user; exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.print_usage(sys.stderr)
        print(f"candlelit: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="candlelit", description="A local, private roleplay client.")
    p.add_argument("--version", action="version", version=f"candlelit {__version__}")
    p.add_argument("--model", metavar="PATH", help="a local GGUF file (overrides config and CANDLELIT_MODEL)")
    p.add_argument("--profile", metavar="NAME", help="profile to use (default: chat.profile from config)")
    p.add_argument(
        "--passphrase-stdin", dest="unlock_stdin", action="store_true",
        help="an encrypted profile: read its passphrase from stdin (one line) instead of asking",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    card = sub.add_parser("card", help="characters").add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
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

    lore = sub.add_parser("lore", help="standalone lorebooks (active in every chat of the profile)").add_subparsers(
        dest="action", metavar="ACTION", parser_class=_Parser
    )
    lore.required = True
    l_imp = lore.add_parser("import", help="import lorebook files (lorebook_v3, character_book or SillyTavern world info)")
    l_imp.add_argument("paths", nargs="+", metavar="PATH")
    l_list = lore.add_parser("list", help="list imported lorebooks")
    l_list.add_argument("--json", action="store_true")
    l_del = lore.add_parser("delete", help="delete an imported lorebook")
    l_del.add_argument("slug", metavar="SLUG")

    from tui.cli.group import add_persona_parser
    from tui.core.scene.rules import POLICIES

    add_persona_parser(sub, _Parser)

    chat = sub.add_parser("chat", help="chats").add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    chat.required = True
    c_new = chat.add_parser("new", help="start a chat; prints its id")
    c_new.add_argument("--character", required=True, action="append", metavar="SLUG",
                       help="a character (repeat for a group scene)")
    c_new.add_argument("--persona", action="append", metavar="NAME",
                       help="a persona who takes part (repeatable; default: the profile's persona)")
    c_new.add_argument("--narrator", action="store_true", help="add a narrator voice")
    c_new.add_argument("--policy", choices=POLICIES, help="who speaks next in a group (default natural)")
    c_new.add_argument("--title", default="")
    c_new.add_argument(
        "--carry-memory", action="store_true",
        help="start with the memory of this character's most recent chat ([memory] carry_over)",
    )
    c_say = chat.add_parser("say", help="send a message and stream the reply")
    c_say.add_argument("chat_id", metavar="CHAT_ID")
    c_say.add_argument("text", metavar="TEXT", help="the message; - reads it from stdin (kept out of shell history)")
    c_say.add_argument("--as", dest="as_persona", metavar="PERSONA", help="the persona typing (default: the first)")
    c_say.add_argument("--max-tokens", type=int, metavar="N")
    c_say.add_argument("--seed", type=int, metavar="N")
    c_reply = chat.add_parser("reply", help="let a character answer now (a group's manual turns)")
    c_reply.add_argument("chat_id", metavar="CHAT_ID")
    c_reply.add_argument("--character", metavar="NAME", help="who answers (default: the turn policy)")
    c_reply.add_argument("--max-tokens", type=int, metavar="N")
    c_reply.add_argument("--seed", type=int, metavar="N")
    c_resume = chat.add_parser("resume", help="after the safeword: continue, change direction or end the scene")
    c_resume.add_argument("chat_id", metavar="CHAT_ID")
    c_resume.add_argument("choice", choices=("continue", "change", "end"))
    c_resume.add_argument("--note", default="", metavar="TEXT", help="the new direction (with change)")
    c_resume.add_argument("--as", dest="as_persona", metavar="PERSONA")
    c_show = chat.add_parser("show", help="print a chat")
    c_show.add_argument("chat_id", metavar="CHAT_ID")
    c_show.add_argument("--json", action="store_true")
    c_lst = chat.add_parser("list", help="list chats")
    c_lst.add_argument("--json", action="store_true")
    c_mem = chat.add_parser(
        "memory", help="how much of the chat is summarized into memory; --catch-up summarizes the rest now"
    )
    c_mem.add_argument("chat_id", metavar="CHAT_ID")
    c_mem.add_argument("--catch-up", action="store_true",
                       help="fold the backlog now, with a progress bar, until done or Ctrl+C (which keeps what was done)")
    c_mem.add_argument("--json", action="store_true")
    from tui.cli import chats as cli_chats

    cli_chats.add_parsers(chat, _Parser)  # chat import, chat export

    pr = sub.add_parser("prompt", help="show the exact prompt the next reply would get")
    pr.add_argument("chat_id", metavar="CHAT_ID")
    pr.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    bench.required = True
    b_ttft = bench.add_parser(
        "ttft", help="time to first token over a long chat: ours vs a naive rolling window, and resume"
    )
    b_ttft.add_argument("--turns", type=int, default=300, metavar="N")
    b_ttft.add_argument("--n-ctx", type=int, default=1024, metavar="N")
    b_ttft.add_argument("--shift", choices=("auto", "on", "off"), default="auto",
                        help="[memory] context_shift for the run (default auto)")
    b_ttft.add_argument("--resume-tokens", type=int, default=3000, metavar="N")
    b_ttft.add_argument("--json", action="store_true")

    from tui.cli import privacy as cli_privacy

    cli_privacy.add_parsers(sub, _Parser)
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
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except Exception as exc:  # noqa: BLE001 - mapped to one line below
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
    from tui.core import paths
    from tui.core.config.settings import load_config, replace
    from tui.core.privacy import convert, vault
    from tui.core.profile.workspace import Workspace

    p = paths.resolve()
    cfg = load_config(p.config_file)
    if args.profile:
        if args.profile != cfg.chat.profile and not p.profile(args.profile).is_dir():
            # a typo must not quietly start an empty profile
            raise UserError(
                f"there is no profile named {args.profile!r}; see `candlelit profile list`, "
                f"or create it with `candlelit profile create {args.profile}`"
            )
        cfg = replace(cfg, chat={"profile": args.profile})
    folder = p.profile(cfg.chat.profile)
    if folder.parent.is_dir():
        convert.recover(folder)  # finish an encryption or decryption a crash cut short
    if not unlock or not vault.is_encrypted(folder):
        if getattr(args, "unlock_stdin", False) and unlock:
            raise UserError(f"profile '{cfg.chat.profile}' is not encrypted: drop --passphrase-stdin")
        return Workspace(p, cfg)
    from tui.cli.privacy import unlock_profile

    return Workspace(p, cfg, vault=unlock_profile(folder, cfg.chat.profile, args.unlock_stdin))


def _model_override(args: argparse.Namespace) -> str | None:
    return args.model or os.environ.get("CANDLELIT_MODEL") or None


def _engine(ws, args: argparse.Namespace, *, vocab_only: bool = False):
    from tui.core.engine.model_files import text_progress

    path = ws.model_path(_model_override(args), progress=text_progress())
    return ws.open_engine(path, vocab_only=vocab_only)


def _dispatch(args: argparse.Namespace) -> int:
    from tui.cli.chats import HANDLERS as CHAT_FILE_HANDLERS
    from tui.cli.privacy import HANDLERS as PRIVACY_HANDLERS

    if args.command is None:
        return _run_tui(args)
    key = (args.command, getattr(args, "action", None))
    if key in PRIVACY_HANDLERS:  # profile and doctor commands manage profiles themselves
        return PRIVACY_HANDLERS[key](None, args)
    ws = _workspace(args)
    handler = {
        ("card", "list"): _card_list,
        ("card", "import"): _card_import,
        ("card", "show"): _card_show,
        ("card", "export"): _card_export,
        ("card", "delete"): _card_delete,
        ("lore", "import"): _lore_import,
        ("lore", "list"): _lore_list,
        ("lore", "delete"): _lore_delete,
        ("chat", "new"): _chat_new,
        ("chat", "say"): _chat_say,
        ("chat", "reply"): _chat_reply,
        ("chat", "resume"): _chat_resume,
        ("persona", "add"): _persona("persona_add"),
        ("persona", "list"): _persona("persona_list"),
        ("persona", "remove"): _persona("persona_remove"),
        ("chat", "show"): _chat_show,
        ("chat", "list"): _chat_list,
        ("chat", "memory"): _chat_memory,
        ("prompt", None): _prompt,
        ("bench", "ttft"): _bench_ttft,
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

    app = make_app(ws, model_override=_model_override(args))
    app.run()
    return 0


# -- cards -------------------------------------------------------------------
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
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if not entries:
        print("no characters yet")
    width = max((len(e.slug) for e in entries), default=0)
    for e in entries:
        print(f"{e.slug:<{width}}  {e.card.display_name} — {e.card.short_description()}")
    return 0


def _card_import(ws, args) -> int:
    from pathlib import Path

    from tui.core.cards.card import CardError
    from tui.core.cards.library import import_card_file
    from tui.core.storage.errors import StoreError

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
    from tui.core.cards.card import card_to_v3

    entry = ws.card(args.slug)
    card = entry.card
    if args.json:
        print(json.dumps(card_to_v3(card), ensure_ascii=False, indent=2))
        return 0
    from tui.core.cards.library import avatar_path

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

    from tui.core.cards.library import export_card

    ws.install_starters()
    for warning in export_card(ws.store, args.slug, args.fmt, Path(args.output)):
        print(f"candlelit: warning: {warning}", file=sys.stderr)
    print(args.output)
    return 0


def _card_delete(ws, args) -> int:
    from tui.core.cards.library import delete_character

    ws.install_starters()  # first, so a deleted starter is remembered and stays deleted
    delete_character(ws.store, args.slug)
    print(f"deleted {args.slug}")
    return 0


# -- lorebooks ---------------------------------------------------------------
def _lore_import(ws, args) -> int:
    from pathlib import Path

    from tui.core.lore.book import LoreError

    failed = 0
    for raw in args.paths:
        try:
            slug, book = ws.import_lorebook(Path(raw))
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
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if not books:
        print("no lorebooks yet (import one with `candlelit lore import PATH`)")
    for slug, b in books:
        print(f"{slug}  {b.name or '(unnamed)'} — {len(b.entries)} entries")
    return 0


def _lore_delete(ws, args) -> int:
    from tui.core.storage.model import check_id

    path = ws.lorebook_dir / f"{check_id(args.slug, 'lorebook')}.json"
    if not path.is_file():
        raise UserError(f"no lorebook '{args.slug}' (see `candlelit lore list`)")
    path.unlink()
    return 0


# -- chats -------------------------------------------------------------------
def _remember(ws, **changes) -> None:
    """What the app itself remembers goes to state.toml, never config.toml."""
    from tui.core.config.settings import update_state

    if ws.encrypted:
        # state.toml is a plain file outside the profile: an encrypted profile's
        # chat ids and character names stay out of it
        changes = {}
    update_state(ws.paths.state_file, profile=ws.profile_name, **changes)


def _chat_new(ws, args) -> int:
    from tui.core.scene.rules import SceneSettings

    carry = args.carry_memory or ws.config.memory.carry_over
    settings = SceneSettings(policy=args.policy, narrator=args.narrator) if args.policy else None
    info = ws.new_chat(
        args.character, args.title, personas=args.persona, narrator=args.narrator,
        carry_memory=carry, settings=settings,
    )
    _remember(ws, last_chat=info.id, last_character=args.character[0])
    print(info.id)
    return 0


def _chat_list(ws, args) -> int:
    chats = ws.store.list_chats()
    for problem in getattr(ws.store, "problems", []) or []:
        print(f"candlelit: warning: {problem}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "title": c.title,
                        "characters": c.characters,
                        "personas": c.personas,
                        "created": c.created,
                        "updated": c.updated,
                    }
                    for c in chats
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    if not chats:
        print("no chats yet (start one with `candlelit chat new --character SLUG`)")
    for c in chats:
        print(f"{c.id}  {c.updated[:16].replace('T', ' ')}  {c.title}  [{', '.join(c.characters)}]")
    return 0


def _warn_torn(report) -> None:  # noqa: ANN001 - LoadReport
    for side in report.torn:
        print(
            f"candlelit: warning: an incomplete line from an interrupted write was set aside in {side}",
            file=sys.stderr,
        )


def _messages(ws, chat_id: str):
    msgs, report = ws.store.messages(chat_id)
    _warn_torn(report)
    return msgs


def _check(ws, chat_id: str) -> None:
    """Warn about lines set aside, without reading the whole chat."""
    _warn_torn(ws.store.check(chat_id))


def _chat_show(ws, args) -> int:
    from tui.cli.group import message_json, message_line
    from tui.core.scene.rules import load_scene_settings, scene_settings_to_toml

    info = ws.store.chat(args.chat_id)
    msgs = _messages(ws, info.id)
    settings = load_scene_settings({"scene": info.scene})
    group = len(info.characters) > 1 or len(info.personas) > 1 or settings.narrator
    if args.json:
        out = {
            "id": info.id,
            "title": info.title,
            "characters": info.characters,
            "personas": info.personas,
            "created": info.created,
            "updated": info.updated,
            "group": bool(group),
            "scene": {
                **scene_settings_to_toml(settings),
                "paused": info.scene.get("paused") is True,
                "ended": info.scene.get("ended") is True,
            },
            "messages": [message_json(m, bool(group)) for m in msgs],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"# {info.title}  ({info.id})")
    for m in msgs:
        print(f"\n{message_line(m)}")
    return 0


def _chat_say(ws, args) -> int:
    if args.text == "-":
        # from stdin (after the passphrase line, if any): the text stays out of
        # shell history and of the process list
        args.text = sys.stdin.read().rstrip("\n")
    if not args.text.strip():
        raise UserError("the message is empty")
    return _converse(ws, args, lambda session, **kw: session.send(args.text, speaker=args.as_persona, **kw),
                     text=args.text)


def _chat_reply(ws, args) -> int:
    def start(session, **kw):
        if args.character:
            return session.reply_as(args.character, **kw)
        return session.reply(**kw)

    return _converse(ws, args, start, text=None)


def _converse(ws, args, start, *, text: str | None) -> int:
    """Run one generating call of ``Session`` (``start``) and print it.

    Everything that can be refused (an unknown chat or persona, a paused
    scene) is checked before the model loads; a line that generates nothing
    (the safeword, an out-of-character line, manual turns) never loads it."""
    from tui.cli.group import print_events
    from tui.core.chat.session import Session

    if args.max_tokens is not None and args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    _check(ws, args.chat_id)  # unknown chat: fail before loading the model
    probe = Session(ws, args.chat_id, None)  # no model: checks and non-generating lines
    if text is not None:
        if args.as_persona:
            args.as_persona = probe.persona_named(args.as_persona)
        quiet = not probe.would_generate(text)
    else:
        if args.character:
            probe.speaker_named(args.character)
        probe.check_not_paused()
        quiet = False
    sampling = ws.sampling(seed=args.seed, max_tokens=args.max_tokens)
    if quiet:
        kind = probe.classify(text)
        print_events(probe, start(probe, sampling=sampling))
        _remember(ws, last_chat=args.chat_id)
        if kind == "ooc":
            print("candlelit: kept out of the story (out of character); no reply", file=sys.stderr)
        elif kind != "safeword":
            print(
                f"candlelit: manual turns: choose who answers with `candlelit chat reply {args.chat_id} "
                "--character NAME`",
                file=sys.stderr,
            )
        return 0
    engine = _engine(ws, args)
    cancel = threading.Event()
    try:
        session = Session(ws, args.chat_id, engine)
        session.mem.restore_cache()  # the last run's KV cache: the reply starts warm
        stream = start(session, sampling=sampling, cancel=cancel)
        _sigterm_cancels(cancel)
        _remember(ws, last_chat=args.chat_id)
        try:
            print_events(session, stream)
        except KeyboardInterrupt:
            stream.close()  # commits what was generated, marked stopped
            print("\ncandlelit: stopped; the partial reply was saved", file=sys.stderr)
            return 130
        if not cancel.is_set() and not session.paused:
            try:
                upkeep = session.maintain_memory(cancel)
            except KeyboardInterrupt:
                upkeep = None  # memory.md is only written whole: nothing half-done
            if upkeep is not None and upkeep.folds:
                print(f"candlelit: memory updated ({upkeep.folds} fold(s) into memory.md)", file=sys.stderr)
            session.mem.save_cache()
    finally:
        engine.close()
    return 0


def _chat_memory(ws, args) -> int:
    from tui.core.memory.upkeep import progress_bar, progress_text
    from tui.core.chat.session import Session

    _check(ws, args.chat_id)
    if not ws.config.memory.enabled:
        raise UserError("memory is off in the config ([memory] enabled = false)")
    probe = Session(ws, args.chat_id, None)
    folded, total = probe.mem.progress()
    interrupted = False
    if args.catch_up:
        engine = _engine(ws, args)
        cancel = threading.Event()
        try:
            session = Session(ws, args.chat_id, engine)
            _sigterm_cancels(cancel)
            tty = sys.stderr.isatty()

            def show(done: int, of: int) -> None:
                if not args.json:
                    print(("\r" if tty else "") + f"{progress_bar(done, of, 30)} {progress_text(done, of)}", end="" if tty else "\n", file=sys.stderr, flush=True)

            show(folded, total)
            try:
                up = session.mem.catch_up(cancel, show)
            except KeyboardInterrupt:
                cancel.set()  # the fold under way stops too, so closing the engine does not wait on it
                interrupted, up = True, None  # each finished fold is already saved
            if tty and not args.json:
                print(file=sys.stderr)
            if up is not None and up.failed:
                print(f"candlelit: memory stopped: {up.failed}", file=sys.stderr)
            interrupted = interrupted or cancel.is_set()
        finally:
            engine.close()
        folded, total = probe.mem.progress()
    if args.json:
        print(json.dumps({"chat": args.chat_id, "summarized": folded, "messages": total}))
    else:
        print(progress_text(folded, total))
    if interrupted:
        print("candlelit: stopped; what was summarized is kept", file=sys.stderr)
        return 130
    return 0


def _chat_resume(ws, args) -> int:
    from tui.core.chat.session import Session

    session = Session(ws, args.chat_id, None)  # no model needed
    msg = session.resume_scene(args.choice, args.note, speaker=args.as_persona)
    print(msg.text)
    return 0


def _sigterm_cancels(cancel: threading.Event) -> None:
    """SIGTERM stops generation like Esc does: the partial reply is kept."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: cancel.set())


def _prompt(ws, args) -> int:
    from tui.core.chat.session import Session

    _check(ws, args.chat_id)
    from tui.core.memory import kv_state

    engine = _engine(ws, args, vocab_only=True)
    try:
        prompt = Session(ws, args.chat_id, engine).build_prompt()
    finally:
        engine.close()
    if args.json:
        # reuse is reported against the chat's saved KV cache (what the next
        # `chat say` or the TUI restores); null when there is none
        cached = kv_state.saved_tokens(ws.store.chat_dir(args.chat_id))
        print(json.dumps(prompt.as_json(cached), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(prompt.text)
        sys.stdout.write("\n")
    return 0


def _bench_ttft(ws, args) -> int:
    from tui.bench import ttft

    argv = ["--turns", str(args.turns), "--n-ctx", str(args.n_ctx), "--resume-tokens", str(args.resume_tokens)]
    argv += ["--shift", args.shift]
    if args.json:
        argv.append("--json")
    if args.model:
        argv += ["--model", args.model]
    return ttft.main(argv)
