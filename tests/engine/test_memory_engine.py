"""Memory and preemption on the real default model (short generations)."""

from __future__ import annotations

import copy
import threading
import time

import pytest

from tui.core.engine.api import Chunk, Finished, GenerationRequest, Sampling
from tui.core.fsio import ensure_dir
from tui.core.memory.document import MEMORY_FILE, Fact, Memory, load_memory, save_memory
from tui.core.memory.fold import SummaryCancelled, fold, summarize
from tui.core.storage.model import Message

pytestmark = pytest.mark.model

SHORT = Sampling(temperature=0.0, seed=3, max_tokens=48)
LINES = [
    ("Sam", "user", "The rain has stopped. Do you want to walk down to the river?"),
    ("Mia", "assistant", "I'd love to. Let me grab my coat. Have you ever seen the old tram line by the water?"),
    ("Sam", "user", "Never. I only arrived on Tuesday. I'm here for a month to paint."),
    ("Mia", "assistant", "A painter! Then you have to see the light at sunset from the Alfama steps."),
    ("Sam", "user", "Deal. And tomorrow I'll buy you breakfast at the cabin café you mentioned."),
]


def chunk() -> list[Message]:
    return [Message.new(s, r, t) for s, r, t in LINES]


def old_memory() -> Memory:
    return Memory(
        summary="Sam met Mia at a small café in Lisbon on a rainy evening.",
        pinned_summary="Mia is an adult and works as a barista.\nShe never talks about her brother.",
        facts=[Fact("Mia lives above the café", "", True), Fact("Sam is new in town", "x1")],
        folded_upto="x1",
    )


def test_summarize_on_the_real_model(engine):
    msgs = chunk()
    old = old_memory()
    snapshot = copy.deepcopy(old)
    new = summarize(engine, old, msgs, "Mia", "Sam", sampling=SHORT)

    assert old == snapshot
    assert new.summary.startswith(old.summary + "\n\n")
    added = new.summary[len(old.summary):].strip()
    assert len(added) > 10 and "\n" not in added
    assert "Sam:" not in added and "Mia:" not in added  # prose, not more dialogue
    assert new.pinned_summary == old.pinned_summary  # verbatim
    assert new.facts[:2] == old.facts  # pinned and earlier facts untouched, first
    assert new.folded_upto == msgs[-1].id
    fresh = new.facts[2:]
    assert fresh, "the model listed no facts"
    ids = {m.id for m in msgs}
    for f in fresh:
        assert f.text and "\n" not in f.text and not f.pinned
        assert f.source in ids


def test_cancelled_summary_raises_and_leaves_memory_unchanged(engine):
    cancel = threading.Event()

    class CancelAfterFirstChunk:
        """The real engine; the caller cancels once the model is writing."""

        def stream(self, request, cancel_event=None):
            for ev in engine.stream(request, cancel_event):
                if isinstance(ev, Chunk):
                    cancel.set()
                yield ev

        def __getattr__(self, name):
            return getattr(engine, name)

    old = old_memory()
    snapshot = copy.deepcopy(old)
    t0 = time.perf_counter()
    with pytest.raises(SummaryCancelled):
        summarize(CancelAfterFirstChunk(), old, chunk(), "Mia", "Sam", cancel=cancel,
                  sampling=Sampling(temperature=0.0, seed=3, max_tokens=400))
    assert time.perf_counter() - t0 < 10  # stopped, not run to 400 tokens
    assert old == snapshot


def consume(stream, into: list) -> None:
    for ev in stream:
        into.append(ev)


def test_a_user_turn_preempts_a_background_generation(engine):
    long_job = GenerationRequest(
        engine.tokenize("Once upon a time"), Sampling(temperature=0.0, seed=1, max_tokens=1000), background=True
    )
    bg: list = []
    started = threading.Event()

    def run_background() -> None:
        for ev in engine.stream(long_job):
            bg.append(ev)
            started.set()

    worker = threading.Thread(target=run_background)
    worker.start()
    assert started.wait(30)  # the background job is generating now

    user = GenerationRequest(
        engine.tokenize("Alice: Where do you live?\nBob:"), Sampling(temperature=0.0, seed=7, max_tokens=16),
        stop=["\nAlice:"],
    )
    t0 = time.perf_counter()
    events = list(engine.stream(user))
    waited = time.perf_counter() - t0
    worker.join(30)

    fin_bg = bg[-1]
    assert isinstance(fin_bg, Finished) and fin_bg.reason == "cancelled"
    assert fin_bg.metrics.get("preempted") is True
    assert fin_bg.metrics["generated_tokens"] < 1000
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.reason in ("stop", "length") and fin.text.strip()
    assert waited < 15  # 1000 background tokens would take far longer


def test_quick_calls_do_not_preempt_a_background_job(engine):
    job = GenerationRequest(
        engine.tokenize("The history of tea"), Sampling(temperature=0.0, seed=1, max_tokens=40), background=True
    )
    bg: list = []
    started = threading.Event()

    def run_background() -> None:
        for ev in engine.stream(job):
            bg.append(ev)
            started.set()

    worker = threading.Thread(target=run_background)
    worker.start()
    assert started.wait(30)
    t0 = time.perf_counter()
    toks = engine.tokenize("Hello there", add_bos=False)
    text = engine.detokenize(toks)
    took = time.perf_counter() - t0
    worker.join(60)
    assert text == "Hello there"
    assert bg[-1].reason != "cancelled"  # served between tokens, no preemption
    assert "preempted" not in bg[-1].metrics
    assert took < 2


def test_a_preempted_fold_leaves_memory_md_intact(engine, tmp_path):
    chat = ensure_dir(tmp_path / "chat")
    save_memory(chat, old_memory())
    before = (chat / MEMORY_FILE).read_bytes()
    errors: list[BaseException] = []
    writing = threading.Event()

    class Spy:
        """The real engine; tells the test once the summary is being written."""

        def stream(self, request, cancel=None):
            for ev in engine.stream(request, cancel):
                writing.set()
                yield ev

        def __getattr__(self, name):
            return getattr(engine, name)

    def run_fold() -> None:
        try:
            fold(Spy(), chat, chunk(), "Mia", "Sam", sampling=Sampling(temperature=0.0, seed=3, max_tokens=400))
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    worker = threading.Thread(target=run_fold)
    worker.start()
    assert writing.wait(30)  # the background summary is generating now
    user = GenerationRequest(engine.tokenize("Once upon a time"), Sampling(temperature=0.0, seed=1, max_tokens=8))
    fin = list(engine.stream(user))[-1]
    worker.join(60)

    assert fin.reason == "length"
    assert len(errors) == 1 and isinstance(errors[0], SummaryCancelled)
    assert "a reply came first" in str(errors[0])
    assert (chat / MEMORY_FILE).read_bytes() == before
    assert load_memory(chat) == old_memory()
