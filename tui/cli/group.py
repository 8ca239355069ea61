"""The ``candlelit`` command's group-scene parts: persona subcommands, and how
scene events and messages are printed.

See docs/ARCHITECTURE.md#the-command-line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tui.cli.terminal import print_json


def add_persona_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``persona`` subcommands (``sub``: the top-level subparsers)."""
    persona = sub.add_parser("persona", help="the people at the keyboard (profile personas)").add_subparsers(
        dest="action", metavar="ACTION", parser_class=parser_class
    )
    persona.required = True
    p_add = persona.add_parser("add", help="add a persona to the profile")
    p_add.add_argument("name", metavar="NAME")
    p_add.add_argument("--description", default="", metavar="TEXT")
    p_add.add_argument("--hard-limit", action="append", default=[], metavar="TEXT",
                       help="something never to include (repeatable)")
    p_add.add_argument("--soft-limit", action="append", default=[], metavar="TEXT",
                       help="something to ask about first (repeatable)")
    p_list = persona.add_parser("list", help="list the profile's personas")
    p_list.add_argument("--json", action="store_true")
    p_rm = persona.add_parser("remove", help="remove a persona from the profile")
    p_rm.add_argument("name", metavar="NAME")


# -- personas ------------------------------------------------------------------


def persona_add(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import PersonaProfile, add_persona

    persona = PersonaProfile(args.name, args.description, tuple(args.hard_limit), tuple(args.soft_limit))
    add_persona(ws.store, persona, ws.config.chat.user_name)
    print(persona.name)
    return 0


def persona_list(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import list_personas

    personas = list_personas(ws.store, ws.config.chat.user_name)
    if args.json:
        out = [{**p.to_toml(), "default": i == 0} for i, p in enumerate(personas)]
        print_json(out)
        return 0
    for i, p in enumerate(personas):
        mark = "  (default)" if i == 0 else ""
        about = f" — {p.description}" if p.description else ""
        print(f"{p.name}{about}{mark}")
        if p.hard_limits:
            print(f"  hard limits: {'; '.join(p.hard_limits)}")
        if p.soft_limits:
            print(f"  soft limits: {'; '.join(p.soft_limits)}")
    return 0


def persona_remove(ws: Any, args: argparse.Namespace) -> int:
    from tui.core import remove_persona

    removed = remove_persona(ws.store, args.name, ws.config.chat.user_name)
    print(f"removed {removed.name}")
    return 0


# -- scene output ----------------------------------------------------------------


def paused_line(chat_id: str, by: str) -> str:
    who = f"{by} used the safeword" if by else "the safeword was used"
    return (
        f"the scene is paused: {who}. Nothing more is generated until someone chooses: "
        f"candlelit chat resume {chat_id} continue|change|end"
    )


def print_events(
    session: Any, events: Iterable[Any], out: TextIO | None = None, err: TextIO | None = None
) -> list[Any]:
    """Print a ``Session`` stream as it comes; return the ``ReplyDone``s.

    One-to-one chats print the reply text alone (as ``chat say`` always did);
    in a group each reply is one line prefixed ``Name: ``. A pause is
    printed on ``out``; notes (slow down, stopped replies) on ``err``.
    """
    from tui.core import Chunk, ReplyDone, ScenePaused, SlowDown, SpeakerStarted

    out = out or sys.stdout
    err = err or sys.stderr
    done: list[Any] = []
    for ev in events:
        if isinstance(ev, SpeakerStarted):
            out.write(f"{ev.name}: ")
            out.flush()
        elif isinstance(ev, Chunk):
            out.write(ev.text)
            out.flush()
        elif isinstance(ev, ReplyDone):
            out.write("\n")
            out.flush()
            done.append(ev)
            if ev.message.status == "stopped":
                print("candlelit: stopped; the partial reply was saved", file=err)
        elif isinstance(ev, ScenePaused):
            print(paused_line(session.chat_id, ev.by), file=out, flush=True)
        elif isinstance(ev, SlowDown):
            print(f"candlelit: {ev.by} asked to slow down; the next reply will check in", file=err)
    return done


def message_json(message: Any, group: bool) -> dict[str, Any]:
    """One message for ``chat show --json``: every stored field but the line
    version, with ``speaker`` and ``role`` ("human" | "character" |
    "narrator" | "system") in every chat, one-to-one or group (the issue-6
    contract); ``stored_role`` is the role in messages.jsonl
    ("user" | "assistant" | "system"), ``kind`` repeats ``role``."""
    from tui.core import message_kind

    d = {k: v for k, v in message.to_json().items() if k != "v"}
    kind = message_kind(message)
    d["stored_role"] = d.get("role")
    d["role"] = kind
    d["kind"] = kind
    return d


def message_line(message: Any) -> str:
    """One message for ``chat show``: ``Name: text``; scene signals in
    brackets; out-of-character lines marked."""
    from tui.core import is_ooc, is_signal, strip_ooc

    mark = "  [stopped]" if message.status == "stopped" else ""
    if is_signal(message):
        return f"[{message.text}]"
    if message.role == "user" and (message.extra.get("ooc") is True or is_ooc(message.text)):
        return f"{message.speaker} (out of character): {strip_ooc(message.text)}"
    return f"{message.speaker}: {message.text}{mark}"
