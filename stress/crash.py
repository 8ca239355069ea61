"""Kill -9 at random moments: no file is ever corrupt, no acknowledged message lost.

Run from the repository root::

    .venv/bin/python stress/crash.py                   # 500 kills (the long run)
    .venv/bin/python stress/crash.py --kills 30 --seed 7

A worker process works on a real profile (in a temporary home) through the
same core API the app and the CLI use, and prints an acknowledgement only
after each operation has returned (what a user would have seen as saved):
appends, swipes, edits, deletes, memory saves (what a fold writes), KV-cache
saves, SillyTavern chat imports, and, in one run in ten, encrypt/decrypt
conversions of the whole profile. The harness kills it with SIGKILL at a
random moment, then checks everything on disk:

- the profile opens (after ``recover``, as every start does), plain or
  encrypted (unlocked with its passphrase);
- every chat reads without error; a torn last line (an append cut short) is
  set aside, never glued to the next one;
- every acknowledged message is there, with its acknowledged (or a later
  attempted) text, unless an acknowledged delete removed it;
- ``memory.md``, every TOML file and the KV sidecar parse; an acknowledged
  import is a complete chat.

It prints kills, corrupt files and lost messages, and exits 1 on any.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASS = "harness passphrase: lantern juniper quarry"
PROFILE = "Rosa"
ST_CHAT = "\n".join(json.dumps(x) for x in [
    {"user_name": "Sam", "character_name": "Mara", "create_date": "2025-01-01@12h00m00s", "chat_metadata": {}},
    {"name": "Mara", "is_user": False, "send_date": "2025-01-01@12h00m01s", "mes": "Welcome back."},
    {"name": "Sam", "is_user": True, "send_date": "2025-01-01@12h00m05s", "mes": "Hello again."},
]) + "\n"


# -- the worker --------------------------------------------------------------------
def _workspace():
    from tui.core import paths
    from tui.core.config.load import replace
    from tui.core.config.schema import Config
    from tui.core.privacy.convert import recover
    from tui.core.privacy.vault import is_encrypted, unlock
    from tui.core.profile.workspace import Workspace

    p = paths.resolve()
    folder = p.profile(PROFILE)
    recover(folder)
    cfg = replace(Config(), chat={"profile": PROFILE})
    vault = unlock(folder, PASS) if is_encrypted(folder) else None
    return p, Workspace(p, cfg, vault=vault)


def _workspace_when_calm():
    """``_workspace``, retried while age refuses its scrypt work factor as too
    slow for this (busy) machine right now: that is not damage."""
    for attempt in range(5):
        try:
            return _workspace()
        except Exception as exc:
            if "more scrypt work" not in str(exc) or attempt == 4:
                raise
            time.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


class _FakeKV:
    """Stands in for the engine when saving a KV state: bytes and tokens."""

    def __init__(self, rng: random.Random) -> None:
        self.blob = os.urandom(rng.randint(1, 200_000))

    def state_size(self) -> int:
        return len(self.blob)

    def state_blob(self) -> bytes:
        return self.blob

    def cache_key(self) -> str:
        return "harness"

    def cached_tokens(self) -> list[int]:
        return [1, 2, 3]


def worker(mode: str, seed: int) -> None:
    from tui.core.memory import kv_state
    from tui.core.memory.document import Memory, save_memory
    from tui.core.profile import profiles as P
    from tui.core.profile.st_import import import_st_chat
    from tui.core.storage.model import Message

    rng = random.Random(seed)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    p, ws = _workspace_when_calm()
    if mode == "convert":
        say("ready")
        while True:
            if P.profile_info(p, PROFILE).encrypted:
                P.decrypt_profile(p, PROFILE, PASS)
                say("DEC")
            else:
                P.encrypt_profile(p, PROFILE, PASS)
                say("ENC")
    chat_id = os.environ["HARNESS_CHAT"]
    st_file = Path(os.environ["HARNESS_ST_FILE"])
    say("ready")
    n = 0
    while True:
        n += 1
        op = rng.choices(["append", "swipe", "edit", "delete", "memory", "kv", "import"],
                         [50, 8, 10, 6, 10, 10, 6])[0]
        msgs, _ = ws.store.messages(chat_id)
        if op == "append" or not msgs:
            who, role = ("Sam", "user") if n % 2 else ("Mara", "assistant")
            m = Message.new(who, role, f"line {n} " + "x" * rng.randint(0, 300))
            say(f"a {m.id} {m.text.split()[1]}")
            ws.store.append(chat_id, m)
            say(f"A {m.id}")
        elif op == "swipe":
            last = msgs[-1]
            text = f"swipe{n}"
            say(f"e {last.id} {text}")
            ws.store.update_message(chat_id, last.id, lambda m, t=text: m.add_swipe(t))
            say(f"E {last.id} {text}")
        elif op == "edit":
            target = rng.choice(msgs)
            text = f"edit{n}"
            say(f"e {target.id} {text}")
            ws.store.edit_message(chat_id, target.id, text)
            say(f"E {target.id} {text}")
        elif op == "delete" and len(msgs) > 3:
            start = rng.randrange(max(1, len(msgs) - 3), len(msgs))
            ids = [m.id for m in msgs[start:]]
            say(f"d {','.join(ids)}")
            ws.store.delete_from(chat_id, ids[0])
            say(f"D {','.join(ids)}")
        elif op == "memory":
            save_memory(ws.store.chat_dir(chat_id), Memory(summary=f"summary {n}", pinned_summary="pinned"))
            say(f"M summary {n}")
        elif op == "kv":
            kv_state.save(_FakeKV(rng), ws.store.chat_dir(chat_id), 1 << 20)  # type: ignore[arg-type]
            say("K")
        elif op == "import":
            result = import_st_chat(ws, st_file, characters=["mara"])
            say(f"I {result.info.id}")


# -- the harness -------------------------------------------------------------------
class Model:
    """What was acknowledged, and what was attempted but maybe not done."""

    def __init__(self) -> None:
        self.chat = ""
        self.present: dict[str, set[str]] = {}   # acknowledged id -> texts it may have now
        self.pending: dict[str, str] = {}        # appended, not acknowledged
        self.deleted: set[str] = set()
        self.maybe_deleted: set[str] = set()
        self.imports: list[str] = []

    def read(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "chat":
            self.chat = rest
        elif kind == "a":
            mid, number = rest.split(" ", 1)
            self.pending[mid] = f"line:{number}"
        elif kind == "A":
            self.present[rest] = {self.pending.pop(rest, "line:?")}
        elif kind == "e":
            mid, text = rest.split(" ", 1)
            if mid in self.present:
                self.present[mid].add(text)  # it may or may not have happened
        elif kind == "E":
            mid, text = rest.split(" ", 1)
            if mid in self.present:
                self.present[mid] = {text}
        elif kind == "d":
            self.maybe_deleted |= set(rest.split(","))
        elif kind == "D":
            ids = set(rest.split(","))
            self.deleted |= ids
            for mid in ids:
                self.present.pop(mid, None)
        elif kind == "I":
            self.imports.append(rest)


def _text_ok(text: str, allowed: set[str]) -> bool:
    for a in allowed:
        if a.startswith("line:"):
            if a == "line:?" or text.split()[:2] == ["line", a[5:]]:
                return True
        elif text == a:
            return True
    return False


def check(model: Model) -> tuple[list[str], int]:
    """Problems found on disk and acknowledged messages lost."""
    from tui.core.memory import kv_state
    from tui.core.memory.document import load_memory

    problems: list[str] = []
    try:
        p, ws = _workspace_when_calm()
    except Exception as exc:  # noqa: BLE001 - a profile that does not open is what we look for
        return [f"the profile does not open: {type(exc).__name__}: {exc}"], len(model.present)
    lost = 0
    try:
        msgs, _report = ws.store.messages(model.chat)
    except Exception as exc:  # noqa: BLE001
        return [f"the chat does not read: {type(exc).__name__}: {exc}"], len(model.present)
    by_id = {m.id: m for m in msgs}
    for mid, allowed in model.present.items():
        m = by_id.get(mid)
        if m is None:
            if mid not in model.maybe_deleted:
                lost += 1
        elif not _text_ok(m.text, allowed):
            problems.append(f"message {mid} reads {m.text[:30]!r}, expected one of {sorted(allowed)}")
    for mid in model.deleted:
        if mid in by_id:
            problems.append(f"message {mid} was deleted but is back")
    try:
        load_memory(ws.store.chat_dir(model.chat))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"memory.md: {type(exc).__name__}: {exc}")
    kv_state.saved_tokens(ws.store.chat_dir(model.chat))
    for cid in model.imports:
        try:
            got, _ = ws.store.messages(cid)
            if len(got) != 2:
                problems.append(f"imported chat {cid} has {len(got)} messages, not 2")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"imported chat {cid}: {type(exc).__name__}: {exc}")
    if not ws.encrypted:
        for path in p.profile(PROFILE).rglob("*.toml"):
            try:
                tomllib.loads(path.read_text("utf-8"))
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{path.name}: {type(exc).__name__}")
    return problems, lost


def run(kills: int, seed: int, verbose: bool) -> dict[str, int]:
    rng = random.Random(seed)
    home = Path(tempfile.mkdtemp(prefix="candlelit-crash-"))
    env = dict(os.environ, CANDLELIT_HOME=str(home / "home"), CANDLELIT_CONFIG=str(home / "config.toml"),
               PYTHONPATH=str(REPO), HARNESS_ST_FILE=str(home / "st.jsonl"))
    os.environ.update({k: env[k] for k in ("CANDLELIT_HOME", "CANDLELIT_CONFIG")})
    (home / "st.jsonl").write_text(ST_CHAT, encoding="utf-8")
    from tui.core import paths
    from tui.core.profile import profiles as P

    P.create_profile(paths.resolve(), PROFILE)
    _p, ws = _workspace()
    ws.install_starters()
    model = Model()
    model.chat = env["HARNESS_CHAT"] = ws.new_chat("mara").id
    totals = {"kills": 0, "corrupt": 0, "lost": 0, "acknowledged": 0, "conversions": 0, "conversion_kills": 0}
    try:
        for i in range(kills):
            mode = "convert" if rng.random() < 0.1 else "ops"
            proc = subprocess.Popen([sys.executable, __file__, "--worker", mode, "--seed", str(seed * 100003 + i)],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            lines: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until the worker is at work
                line = proc.stdout.readline().strip()
                if not line:
                    break
                lines.append(line)
                if line == "ready":
                    break
            time.sleep(rng.uniform(0.0, 8.0) if mode == "convert" else rng.uniform(0.0, 0.4))
            proc.kill()
            out, err = proc.communicate()
            lines += out.splitlines()
            if proc.returncode != -9:  # the worker died on its own: a bug, not a kill
                totals["corrupt"] += 1
                print(f"kill {i}: the worker stopped by itself ({proc.returncode}): {err[-500:]}", file=sys.stderr)
            totals["kills"] += 1
            totals["conversion_kills"] += mode == "convert"
            for line in lines:
                if line not in ("ready",):
                    model.read(line)
                totals["acknowledged"] += line.startswith("A ")
                totals["conversions"] += line in ("ENC", "DEC")
            problems, lost = check(model)
            totals["corrupt"] += len(problems)
            totals["lost"] += lost
            for problem in problems:
                print(f"kill {i} ({mode}): {problem}", file=sys.stderr)
            if lost:
                print(f"kill {i} ({mode}): {lost} acknowledged message(s) lost", file=sys.stderr)
            if verbose:
                print(f"kill {i:4} {mode:7} acks so far {totals['acknowledged']}", file=sys.stderr)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return totals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--worker", choices=("ops", "convert"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.seed)
        return 0
    t0 = time.perf_counter()
    totals = run(args.kills, args.seed, args.verbose)
    totals["seconds"] = round(time.perf_counter() - t0)
    if args.json:
        print(json.dumps(totals))
    else:
        print(f"kills {totals['kills']}, corrupt files {totals['corrupt']}, acknowledged messages lost "
              f"{totals['lost']} (of {totals['acknowledged']} acknowledged appends; "
              f"{totals['conversion_kills']} kills during conversions, {totals['conversions']} finished ones) "
              f"in {totals['seconds']} s")
    return 1 if totals["corrupt"] or totals["lost"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
