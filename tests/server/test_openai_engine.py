"""The OpenAI-compatible engine against a real llama-server's /v1/completions,
with each of its token sources: the server's tokenizer, a local GGUF, an estimate."""

from __future__ import annotations

import pytest
from server_support import LOOPBACK_ONLY, llama_server, spare_server, unused_port  # noqa: F401

from tui.core import paths
from tui.core.chat.session import ReplyDone, Session
from tui.core.config.load import replace
from tui.core.config.schema import Config
from tui.core.engine.api import Engine, GenerationRequest, Sampling
from tui.core.engine.http import ServerSettings
from tui.core.engine.openai import EstimateTokens, OpenAIEngine
from tui.core.engine.server import LlamaServerEngine
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message

pytestmark = LOOPBACK_ONLY

GREEDY = Sampling(temperature=0.0, seed=7, max_tokens=12)
PROMPT = "Once upon a time, in a quiet village by the sea,"


@pytest.mark.parametrize("source", ["llama-server", "gguf", "estimate"])
def test_completions_with_each_token_source(llama_server, engine, model_path, source):
    tokenizer = {"llama-server": "", "gguf": str(model_path), "estimate": "estimate"}[source]
    eng = OpenAIEngine(ServerSettings(llama_server.url, kind="openai", tokenizer=tokenizer))
    eng.load()
    try:
        assert isinstance(eng, Engine) and eng.token_source == source
        assert eng.info.exact_tokens is (source != "estimate")
        assert eng.model.endswith(".gguf") and eng.models == [eng.model]
        toks = eng.tokenize(PROMPT)
        if source != "estimate":
            assert toks == engine.tokenize(PROMPT)  # exact budgets
        else:
            assert abs(len(toks) - len(engine.tokenize(PROMPT))) <= 6  # about right
        assert eng.detokenize(eng.tokenize(PROMPT, add_bos=False)) == PROMPT
        events = list(eng.stream(GenerationRequest(toks, GREEDY, ["\n\n"])))
        fin = events[-1]
        assert fin.reason == "length" and fin.text == "".join(e.text for e in events[:-1])
        # the same greedy words as the native API on the same server
        with LlamaServerEngine(ServerSettings(llama_server.url)) as native:
            same = native.tokenize(PROMPT)
            assert fin.text == list(native.stream(GenerationRequest(same, GREEDY, ["\n\n"])))[-1].text
        assert fin.metrics["prompt_tokens"] == len(toks) and fin.metrics["engine"] == "openai"
    finally:
        eng.close()


def test_a_chat_through_the_openai_engine(home, llama_server):
    cfg = replace(Config(), chat={"user_name": "Sam"}, engine={"kind": "openai", "url": llama_server.url})
    ws = Workspace(paths.resolve(), cfg)
    ws.install_starters()
    eng = ws.connect_engine()
    try:
        assert isinstance(eng, OpenAIEngine)
        chat = ws.new_chat("mara")
        ws.store.append(chat.id, Message.new("Sam", "user", "Good evening. The fire is warm tonight."))
        s = Session(ws, chat.id, eng)
        done = [e for e in s.reply(sampling=GREEDY) if isinstance(e, ReplyDone)][-1]
        assert done.message.text.strip() and done.message.role == "assistant"
        assert s.messages()[-1].text == done.message.text
    finally:
        eng.close()


def test_estimated_tokens_round_trip_any_text():
    est = EstimateTokens()
    for text in ("", "  leading", "trailing  \n\n", "emoji 👩‍❤️‍👨 and\ttabs", "x" * 37):
        assert est.detokenize(est.tokenize(text, False)) == text
        assert est.tokenize(text, True)[0] == 0
    assert len(est.tokenize("The lantern swung in the wind.", False)) == 9
