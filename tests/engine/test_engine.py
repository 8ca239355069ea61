"""LlamaCppEngine on the real default model (temperature 0, fixed seed)."""

from __future__ import annotations

import threading

import pytest

from tui.core.engine.api import Chunk, EngineError, Finished, GenerationRequest, Sampling
from tui.core.engine.llama import LlamaCppEngine
from tui.core.engine.settings import EngineSettings

GREEDY = Sampling(temperature=0.0, seed=7, max_tokens=24)
DIALOGUE = (
    "Alice: Where do you live?\n"
    "Bob: I live in Paris.\n"
    "Alice: What is your favourite food?\n"
    "Bob:"
)


def run(engine, text, sampling=GREEDY, stop=("\nAlice:",), cancel=None):
    req = GenerationRequest(engine.tokenize(text), sampling, stop=list(stop))
    events = list(engine.stream(req, cancel))
    assert isinstance(events[-1], Finished)
    return events


def test_model_info(engine):
    info = engine.info
    assert info.name == "Gemma 3 270m"
    assert info.n_ctx == 2048 and info.n_ctx_train == 32768
    assert info.chat_template is None  # a base model: the transcript format is used
    assert info.bos_token == "<bos>"


def test_greedy_reply_content_and_stop(engine):
    events = run(engine, DIALOGUE)
    fin = events[-1]
    assert fin.reason == "stop"
    assert fin.text.strip().startswith("I love to eat")  # greedy, build-independent part
    assert "Alice" not in fin.text  # stopped before writing the other speaker's line
    streamed = "".join(e.text for e in events if isinstance(e, Chunk))
    assert streamed == fin.text
    assert len([e for e in events if isinstance(e, Chunk)]) > 2  # token by token


def test_same_seed_same_text(engine):
    s = Sampling(temperature=0.9, seed=1234, max_tokens=16)
    a = run(engine, "Once upon a time", s, stop=())[-1]
    b = run(engine, "Once upon a time", s, stop=())[-1]
    assert a.text == b.text and a.metrics["seed"] == 1234


def test_second_turn_reuses_first_turns_tokens(engine):
    first = run(engine, DIALOGUE)[-1]
    follow = DIALOGUE + first.text + "\nAlice: Do you cook it yourself?\nBob:"
    second = run(engine, follow)[-1]
    m = second.metrics
    assert m["prompt_tokens"] == len(engine.tokenize(follow))
    assert m["reused_tokens"] >= first.metrics["prompt_tokens"]
    assert m["evaluated_tokens"] == m["prompt_tokens"] - m["reused_tokens"]
    assert m["evaluated_tokens"] < 20
    assert m["ttft_s"] > 0 and m["tokens_per_s"] and m["tokens_per_s"] > 0


def test_forget_drops_the_chat_from_the_model_memory(engine):
    first = run(engine, DIALOGUE)[-1]
    assert len(engine.cached_tokens()) >= first.metrics["prompt_tokens"]
    engine.forget()
    assert engine.cached_tokens() == []
    assert not engine._llm.input_ids.any()  # no token ids of the chat left behind
    again = run(engine, DIALOGUE)[-1]
    assert again.metrics["reused_tokens"] == 0  # read afresh, same greedy reply
    assert again.text == first.text


def test_unrelated_prompt_reuses_nothing_but_bos(engine):
    run(engine, DIALOGUE)
    fin = run(engine, "Recipe for pancakes:\n1.", stop=())[-1]
    assert fin.metrics["reused_tokens"] <= 1  # only <bos> is shared


def test_max_tokens_limits_length(engine):
    fin = run(engine, "Once upon a time", Sampling(temperature=0, seed=1, max_tokens=5), stop=())[-1]
    assert fin.reason == "length" and fin.metrics["generated_tokens"] == 5


def test_cancel_keeps_partial_text(engine):
    cancel = threading.Event()
    req = GenerationRequest(engine.tokenize("Once upon a time"), Sampling(temperature=0, seed=1, max_tokens=200))
    got = []
    for ev in engine.stream(req, cancel):
        if isinstance(ev, Chunk):
            got.append(ev.text)
            if len(got) == 3:
                cancel.set()
        else:
            fin = ev
    assert fin.reason == "cancelled"
    assert fin.text.startswith("".join(got)) and fin.text
    assert fin.metrics["generated_tokens"] < 10


def test_prompt_longer_than_context_is_a_clear_error(engine):
    with pytest.raises(EngineError, match="context holds 2048"):
        run(engine, "word " * 3000)


def test_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    eng = LlamaCppEngine(EngineSettings(model_path=bad, n_ctx=512))
    with pytest.raises(EngineError, match="could not load"):
        eng.load()
    eng.close()


def test_close_stops_a_reply_in_progress(model_path):
    import time

    eng = LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=1024))
    eng.load()
    req = GenerationRequest(eng.tokenize("Once upon a time"), Sampling(temperature=0, seed=1, max_tokens=1000))
    stream = eng.stream(req)
    next(stream)  # generating now
    t0 = time.perf_counter()
    eng.close()
    assert time.perf_counter() - t0 < 5  # 1000 tokens would take far longer
    rest = list(stream)
    assert isinstance(rest[-1], Finished) and rest[-1].reason == "cancelled"


def test_loading_never_redirects_our_stdout_stderr(model_path):
    """llama-cpp-python silences loading by pointing fds 1 and 2 at /dev/null;
    in the TUI that lost frames and, with two loads at once, could leave the
    app drawing into /dev/null. Watch the fds while two engines load at once."""
    import os
    import threading

    null = os.stat(os.devnull)
    seen_null = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for fd in (1, 2):
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == (null.st_dev, null.st_ino):
                    seen_null.append(fd)

    before = [os.fstat(fd).st_ino for fd in (1, 2)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    engines = [LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=512)),
               LlamaCppEngine(EngineSettings(model_path=model_path, n_ctx=512, vocab_only=True))]
    loaders = [threading.Thread(target=e.load) for e in engines]
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    stop.set()
    watcher.join()
    for e in engines:
        e.close()
    assert not seen_null
    assert [os.fstat(fd).st_ino for fd in (1, 2)] == before
