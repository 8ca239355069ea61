"""The llama-server engine against a real llama-server on loopback."""

from __future__ import annotations

import socket
import threading

import pytest
from server_support import LOOPBACK_ONLY, llama_server, spare_server, unused_port  # noqa: F401

from tui.core import paths
from tui.core.chat.session import ReplyDone, Session
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.engine.api import Engine, EngineError, Finished, GenerationRequest, Sampling
from tui.core.engine.http import ServerSettings
from tui.core.engine.open import open_engine, server_settings
from tui.core.engine.server import LlamaServerEngine
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

pytestmark = LOOPBACK_ONLY

GREEDY = Sampling(temperature=0.0, seed=7, max_tokens=12)


@pytest.fixture
def server_engine(llama_server):
    eng = LlamaServerEngine(ServerSettings(llama_server.url))
    eng.load()
    yield eng
    eng.close()


def server_ws(url: str) -> Workspace:
    cfg = replace(Config(), chat={"user_name": "Sam"}, engine={"kind": "llama-server", "url": url})
    ws = Workspace(paths.resolve(), cfg)
    ws.install_starters()
    return ws


def test_model_facts_and_exact_tokens_come_from_the_server(server_engine, engine, model_path):
    eng = server_engine
    assert isinstance(eng, Engine)
    assert eng.info.n_ctx == 4096 and eng.info.bos_token == "<bos>" and eng.info.eos_token == "<eos>"
    assert eng.total_slots == 2 and eng.background_slot == 1 and eng.address is not None
    assert eng.address.kind == "loopback" and eng.address.badge == "LOCAL"
    text = "The lantern swung in the wind, <start_of_turn>and the rain came."
    # the same tokens as the model's own tokenizer in this process: budgets stay exact
    assert eng.tokenize(text) == engine.tokenize(text)
    assert eng.count(text) == engine.count(text)
    assert eng.detokenize(eng.tokenize(text, add_bos=False)) == text


def test_a_chat_on_the_server_reuses_its_cached_prefix(home, llama_server):
    ws = server_ws(llama_server.url)
    eng = ws.connect_engine()
    try:
        assert isinstance(eng, LlamaServerEngine)
        chat = ws.new_chat("mara")
        ws.store.append(chat.id, Message.new("Sam", "user", "Good evening. The fire is warm tonight."))
        s = Session(ws, chat.id, eng)
        first = [e for e in s.reply(sampling=GREEDY) if isinstance(e, ReplyDone)][-1].message
        assert first.text.strip()
        ws.store.append(chat.id, Message.new("Sam", "user", "Tell me about the lighthouse."))
        before = s.build_prompt().tokens
        held = eng.cached_tokens()  # the first prompt and the reply's tokens
        common = next((i for i, (a, b) in enumerate(zip(held, before, strict=False)) if a != b), len(held))
        second = [e for e in s.reply(sampling=GREEDY) if isinstance(e, ReplyDone)][-1].message
        m = second.metrics
        assert m["prompt_tokens"] == len(before)
        assert m["reused_tokens"] + m["evaluated_tokens"] == m["prompt_tokens"]
        # the server read only the turn since the last reply (not the card, not the history)
        assert m["evaluated_tokens"] < 40 < m["reused_tokens"], m
        assert m["reused_tokens"] >= common - 1  # all the slot had in common with the new prompt
    finally:
        eng.close()


def test_background_jobs_use_another_slot_and_leave_the_chat_warm(server_engine):
    eng = server_engine
    chat = eng.tokenize("A long evening by the fire, with a story about the sea and the lighthouse keeper. " * 4)
    list(eng.stream(GenerationRequest(chat, GREEDY)))
    other = eng.tokenize("Summarize: the baker and the clockmaker went sailing to the islands. " * 4)
    bg = list(eng.stream(GenerationRequest(other, GREEDY, background=True)))[-1]
    assert bg.metrics["slot"] == 1
    again = list(eng.stream(GenerationRequest(chat, GREEDY)))[-1]
    assert again.metrics["slot"] == 0
    assert again.metrics["evaluated_tokens"] <= 1, again.metrics  # the chat's cache survived the job


def test_a_stop_ends_the_reply_within_two_tokens(server_engine):
    eng = server_engine
    cancel = threading.Event()
    events, after = [], 0
    toks = eng.tokenize("Once upon a time, in a quiet village by the sea,")
    for event in eng.stream(GenerationRequest(toks, Sampling(temperature=0.0, seed=1, max_tokens=200)), cancel):
        after += cancel.is_set()
        events.append(event)
        if len(events) == 3:
            cancel.set()
    ev = events[-1]
    assert isinstance(ev, Finished) and ev.reason == "cancelled"
    assert after <= 2  # chunks delivered after the stop (the last is the Finished)
    assert ev.metrics["generated_tokens"] < 10


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_sockets_reach_loopback_only():
    from pytest_socket import SocketConnectBlockedError

    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_server_down_wrong_key_and_bad_url_are_one_clear_line(spare_server, unused_port):
    port = unused_port
    with pytest.raises(EngineError, match="cannot reach the server at http://127.0.0.1:.*is llama-server running"):
        open_engine(ServerSettings(f"http://127.0.0.1:{port}", connect_timeout=2))
    with pytest.raises(EngineError, match="not an http"):
        open_engine(ServerSettings("ftp://127.0.0.1:1"))
    with pytest.raises(EngineError, match="needs a url"):
        server_settings(Config().engine.__class__(kind="llama-server"))
    keyed = spare_server("--api-key", "right-key")
    with pytest.raises(EngineError, match="refused the API key"):
        open_engine(ServerSettings(keyed.url, api_key="wrong-key"))
    eng = open_engine(ServerSettings(keyed.url, api_key="right-key"))
    try:
        assert eng.count("hello there") == 2
        assert isinstance(eng, LlamaServerEngine) and eng.background_slot is None  # one slot: shared
    finally:
        eng.close()
