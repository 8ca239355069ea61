"""``candlelit chat new|say|reply|resume|show|list|memory`` and ``candlelit prompt``: chats, headless.

Chat files in and out (``chat import``/``chat export``) live in :mod:`tui.cli.chats`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from tui.cli.common import (
    UserError,
    check,
    messages,
    open_engine,
    remember,
    sigterm_cancels,
)
from tui.cli.terminal import print_json


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> Any:
    """Add ``chat`` and its own actions to the top-level subcommands; return
    the ``chat`` subcommands, for the chat-file actions to join."""
    from tui.core import POLICIES

    chat = sub.add_parser("chat", help="chats").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
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
                       help="fold the backlog now, with a progress bar, until done or Ctrl+C "
                       "(which keeps what was done)")
    c_mem.add_argument("--json", action="store_true")
    return chat


def add_prompt_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``prompt`` to the top-level subcommands."""
    pr = sub.add_parser("prompt", help="show the exact prompt the next reply would get")
    pr.add_argument("chat_id", metavar="CHAT_ID")
    pr.add_argument("--json", action="store_true")


def _chat_new(ws, args) -> int:
    from tui.core import SceneSettings

    carry = args.carry_memory or ws.config.memory.carry_over
    settings = SceneSettings(policy=args.policy, narrator=args.narrator) if args.policy else None
    info = ws.new_chat(
        args.character, args.title, personas=args.persona, narrator=args.narrator,
        carry_memory=carry, settings=settings,
    )
    remember(ws, last_chat=info.id, last_character=args.character[0])
    print(info.id)
    return 0


def _chat_list(ws, args) -> int:
    chats = ws.store.list_chats()
    for problem in getattr(ws.store, "problems", []) or []:
        print(f"candlelit: warning: {problem}", file=sys.stderr)
    if args.json:
        print_json(
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
            ]
        )
        return 0
    if not chats:
        print("no chats yet (start one with `candlelit chat new --character SLUG`)")
    for c in chats:
        print(f"{c.id}  {c.updated[:16].replace('T', ' ')}  {c.title}  [{', '.join(c.characters)}]")
    return 0


def _chat_show(ws, args) -> int:
    from tui.cli.group import message_json, message_line
    from tui.core import load_scene_settings, scene_settings_to_toml

    info = ws.store.chat(args.chat_id)
    msgs = messages(ws, info.id)
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
        print_json(out)
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
    from tui.core import Session

    if args.max_tokens is not None and args.max_tokens < 1:
        raise UserError("--max-tokens must be at least 1")
    check(ws, args.chat_id)  # unknown chat: fail before loading the model
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
        remember(ws, last_chat=args.chat_id)
        if kind == "ooc":
            print("candlelit: kept out of the story (out of character); no reply", file=sys.stderr)
        elif kind != "safeword":
            print(
                f"candlelit: manual turns: choose who answers with `candlelit chat reply {args.chat_id} "
                "--character NAME`",
                file=sys.stderr,
            )
        return 0
    engine = open_engine(ws, args)
    cancel = threading.Event()
    try:
        session = Session(ws, args.chat_id, engine)
        session.restore_cache()  # the last run's KV cache: the reply starts warm
        stream = start(session, sampling=sampling, cancel=cancel)
        sigterm_cancels(cancel)
        remember(ws, last_chat=args.chat_id)
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
            session.save_cache()
    finally:
        engine.close()
    return 0


def _chat_memory(ws, args) -> int:
    from tui.core import Session, progress_bar, progress_text

    check(ws, args.chat_id)
    if not ws.config.memory.enabled:
        raise UserError("memory is off in the config ([memory] enabled = false)")
    probe = Session(ws, args.chat_id, None)
    folded, total = probe.memory_progress()
    interrupted = False
    if args.catch_up:
        engine = open_engine(ws, args)
        cancel = threading.Event()
        try:
            session = Session(ws, args.chat_id, engine)
            sigterm_cancels(cancel)
            tty = sys.stderr.isatty()

            def show(done: int, of: int) -> None:
                if not args.json:
                    line = f"{progress_bar(done, of, 30)} {progress_text(done, of)}"
                    print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

            show(folded, total)
            try:
                up = session.catch_up_memory(cancel, show)
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
        folded, total = probe.memory_progress()
    if args.json:
        print_json({"chat": args.chat_id, "summarized": folded, "messages": total}, indent=None)
    else:
        print(progress_text(folded, total))
    if interrupted:
        print("candlelit: stopped; what was summarized is kept", file=sys.stderr)
        return 130
    return 0


def _chat_resume(ws, args) -> int:
    from tui.core import Session

    session = Session(ws, args.chat_id, None)  # no model needed
    msg = session.resume_scene(args.choice, args.note, speaker=args.as_persona)
    print(msg.text)
    return 0


def _prompt(ws, args) -> int:
    from tui.core import Session

    check(ws, args.chat_id)
    from tui.core import saved_tokens

    engine = open_engine(ws, args, vocab_only=True)
    try:
        prompt = Session(ws, args.chat_id, engine).build_prompt()
    finally:
        engine.close()
    if args.json:
        # reuse is reported against the chat's saved KV cache (what the next
        # `chat say` or the TUI restores); null when there is none
        cached = saved_tokens(ws.store.chat_dir(args.chat_id))
        print_json(prompt.as_json(cached))
    else:
        sys.stdout.write(prompt.text)
        sys.stdout.write("\n")
    return 0


HANDLERS = {
    ("chat", "new"): _chat_new,
    ("chat", "say"): _chat_say,
    ("chat", "reply"): _chat_reply,
    ("chat", "resume"): _chat_resume,
    ("chat", "show"): _chat_show,
    ("chat", "list"): _chat_list,
    ("chat", "memory"): _chat_memory,
    ("prompt", None): _prompt,
}
