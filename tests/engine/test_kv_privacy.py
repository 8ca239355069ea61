"""A saved KV cache holds only what the chat's prompt still holds: deleted
and edited text, and other prompts run on the same engine (a rehearsal,
ideas), never reach a chat's ``kv/`` folder (real model)."""

from __future__ import annotations

import pytest

from tui.core import paths
from tui.core.chat.session import Session
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.engine.api import GenerationRequest, Sampling
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.settings import EngineSettings
from tui.core.memory import kv_state
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

GREEDY = Sampling(temperature=0.0, seed=7, max_tokens=10)
LINES = [
    ("Sam", "user", "I moved to Lisbon last spring and I work at a bakery near the river."),
    ("Mara", "assistant", "A bakery by the river! Do you bake the custard tarts yourself?"),
    ("Sam", "user", "Every morning at five. My sister Ines visits on Sundays."),
]


def make_ws() -> Workspace:
    cfg = replace(Config(), chat={"user_name": "Sam"}, model={"n_ctx": 1024}, memory={"enabled": False})
    ws = Workspace(paths.resolve(), cfg)
    ws.install_starters()
    return ws


def fill(ws: Workspace, chat_id: str) -> None:
    for who, role, text in LINES:
        ws.store.append(chat_id, Message.new(who, role, text))


@pytest.fixture(scope="module")
def eng(model_path):
    e = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=1024))
    e.load()
    yield e
    e.close()


def saved_text(s: Session, eng: LlamaCppEngine) -> str:
    toks = kv_state.saved_tokens(s.mem.chat_dir)
    assert toks is not None
    assert toks == s.build_prompt().tokens[: len(toks)]  # a prefix of the next prompt
    return eng.detokenize(toks)


def state_files(s: Session) -> list[str]:
    folder = kv_state.state_dir(s.mem.chat_dir)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_deleted_and_edited_text_leaves_the_saved_cache(home, eng):
    ws = make_ws()
    chat = ws.new_chat("mara")
    fill(ws, chat.id)
    secret = Message.new("Sam", "user", "The password to my diary is marmalade.")
    ws.store.append(chat.id, secret)
    s = Session(ws, chat.id, eng)
    list(s.reply(sampling=GREEDY))
    assert s.save_cache() > 0 and "marmalade" in saved_text(s, eng)

    s.delete_from(secret.id)
    assert kv_state.STATE_FILE not in state_files(s) and kv_state.META_FILE not in state_files(s)
    # leaving the chat saves again: the engine still holds the deleted turn
    assert "marmalade" in eng.detokenize(eng.cached_tokens())
    assert s.save_cache() > 0
    assert "marmalade" not in saved_text(s, eng)
    assert "marmalade" not in eng.detokenize(eng.cached_tokens())
    assert s.restore_cache() == len(kv_state.saved_tokens(s.mem.chat_dir) or [])

    last = s.messages()[-1]
    list(s.reply(sampling=GREEDY))
    assert s.save_cache() > 0
    s.edit(last.id, "Every evening at nine, by lamplight.")
    assert kv_state.STATE_FILE not in state_files(s)
    assert s.save_cache() > 0
    assert last.text not in saved_text(s, eng) and "lamplight" not in saved_text(s, eng)


def test_another_prompt_on_the_engine_is_never_saved_into_the_chat(home, eng):
    ws = make_ws()
    chat = ws.new_chat("mara")
    fill(ws, chat.id)
    s = Session(ws, chat.id, eng)
    list(s.reply(sampling=GREEDY))
    # what the rehearsal and ideas screens do: their own prompt on the same engine
    other = eng.tokenize("Rehearsal. Practise telling them about the lighthouse trip.")
    list(eng.stream(GenerationRequest(other, GREEDY, [])))
    assert "lighthouse" in eng.detokenize(eng.cached_tokens())
    written = s.save_cache()
    toks = kv_state.saved_tokens(s.mem.chat_dir)
    if written:
        assert "lighthouse" not in saved_text(s, eng)
    else:  # nothing in common with the chat's prompt: nothing saved
        assert toks is None and state_files(s) in ([], ["CACHEDIR.TAG"])
