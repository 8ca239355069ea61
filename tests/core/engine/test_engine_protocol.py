"""Every engine keeps the whole ``Engine`` contract: the scripted one here,
the real llama.cpp one on the bundled model (the next engines join the list)."""

from __future__ import annotations

import inspect
import threading

import pytest

from tui.core.engine.api import Chunk, Engine, Finished, GenerationRequest, Sampling
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.scripted import ScriptedEngine
from tui.core.engine.server import LlamaServerEngine
from tui.core.engine.settings import EngineSettings

MEMBERS = {name for name in dir(Engine) if not name.startswith("_")}


@pytest.fixture(params=["scripted", "llama"])
def any_engine(request, model_path):
    if request.param == "scripted":
        eng = ScriptedEngine(["Hello there, traveller."])
    else:
        eng = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=512))
        eng.load()
    yield eng
    eng.close()


def test_the_protocol_is_the_whole_seam():
    assert MEMBERS == {
        "info", "tokenize", "detokenize", "count", "stream", "warm", "cached_tokens", "reeval_seconds",
        "forget", "keep_prefix", "cache_key", "state_size", "state_blob", "load_state_blob", "close",
    }
    for impl in (ScriptedEngine, LlamaCppEngine, LlamaServerEngine):
        for name in MEMBERS - {"info"}:
            theirs = inspect.signature(getattr(impl, name))
            ours = inspect.signature(getattr(Engine, name))
            assert list(theirs.parameters) == list(ours.parameters), (impl.__name__, name)


def test_tokens_count_and_round_trip(any_engine):
    eng = any_engine
    assert isinstance(eng, Engine)
    text = "The lantern swung in the wind."
    toks = eng.tokenize(text, add_bos=False)
    assert eng.count(text) == len(toks) > 0
    assert len(eng.tokenize(text)) == len(toks) + 1  # the BOS
    assert eng.detokenize(toks).strip() == text
    assert eng.info.n_ctx >= 512 and eng.info.name


def test_stream_yields_chunks_then_one_finished(any_engine):
    eng = any_engine
    req = GenerationRequest(eng.tokenize("Once upon a time"), Sampling(temperature=0.0, seed=1, max_tokens=8))
    events = list(eng.stream(req))
    assert isinstance(events[-1], Finished) and not any(isinstance(e, Finished) for e in events[:-1])
    assert all(isinstance(e, Chunk) for e in events[:-1])
    fin = events[-1]
    assert fin.text == "".join(e.text for e in events[:-1])
    assert fin.reason in ("stop", "length", "cancelled")
    assert fin.metrics["prompt_tokens"] == len(req.tokens)


def test_a_set_cancel_stops_the_stream(any_engine):
    eng = any_engine
    cancel = threading.Event()
    cancel.set()
    req = GenerationRequest(eng.tokenize("Once upon a time"), Sampling(temperature=0.0, seed=1, max_tokens=50))
    fin = list(eng.stream(req, cancel))[-1]
    assert isinstance(fin, Finished) and fin.reason == "cancelled"


def test_cache_state_round_trips_or_answers_neutrally(any_engine):
    eng = any_engine
    toks = eng.tokenize("A quiet evening by the fire, and a long story.")
    out = eng.warm(toks, shift=False)
    assert isinstance(out.get("evaluated_tokens"), int)
    key = eng.cache_key()
    assert isinstance(key, str) and key == eng.cache_key()
    blob = eng.state_blob()
    if blob is None:  # an engine without a cache of its own
        assert eng.state_size() == 0 and eng.load_state_blob(b"junk") == 0 and eng.cached_tokens() == []
    else:
        cached = eng.cached_tokens()
        # all but the last token: the reply evaluates that one as it starts
        assert cached == toks[:-1] and eng.state_size() > 0
        eng.forget()
        assert not any(eng.cached_tokens())
        assert eng.load_state_blob(blob) == len(cached)
        assert eng.cached_tokens() == cached
    eng.forget()


def test_keep_prefix_cuts_the_cache_to_what_the_prompt_still_holds(any_engine):
    eng = any_engine
    toks = eng.tokenize("A quiet evening by the fire, and a long story about the sea.")
    eng.warm(toks, shift=False)
    if not eng.cached_tokens():  # an engine without a cache of its own
        assert eng.keep_prefix(toks) == 0
        return
    other = eng.tokenize(" a different ending entirely", add_bos=False)
    assert eng.keep_prefix(toks[:5] + other) == 5
    assert eng.cached_tokens() == toks[:5]
    blob = eng.state_blob()
    eng.forget()
    assert blob is not None and eng.load_state_blob(blob) == 5  # the saved state holds only those
    assert eng.keep_prefix(other) == 0 and eng.cached_tokens() == []
    assert eng.state_blob() is None
    eng.forget()
