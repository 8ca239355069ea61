"""Memory without a model: memory.md format, folding plans, fact merging,
and the summary cycle driven by a scripted engine."""

from __future__ import annotations

import copy
import itertools
import os
import random
import threading
from dataclasses import dataclass

import pytest

from tui.core import templates
from tui.core.engine.api import EngineError
from tui.core.fsio import ensure_dir
from tui.core.memory.document import (
    MEMORY_FILE,
    Fact,
    Memory,
    MemoryFileError,
    carry_over,
    load_memory,
    memory_prompt_text,
    parse_memory,
    render_memory,
    save_memory,
)
from tui.core.memory.fold import (
    FoldPlan,
    MemoryChanged,
    SummaryCancelled,
    SummaryFailed,
    fact_key,
    fold,
    merge_facts,
    parse_fact_lines,
    plan_fold,
    render_template,
    summarize,
    window_start,
)
from tui.core.storage.model import Message, new_message_id

ID1 = "0190f3c2a1b2c3d4e5f"
ID2 = "0190f3c2a1b2c3d4e60"


@dataclass
class Msg:
    id: str
    speaker: str
    text: str


def rich_memory() -> Memory:
    return Memory(
        summary="Sam met Mia at a café in Lisbon.\n\n# Not a heading\nThey walked to the river.",
        pinned_summary="Mia is an adult who works as a barista.\n\\# a literal backslash-hash",
        facts=[
            Fact("Mia is a barista in Lisbon", ID1, True),
            Fact("We agreed to meet at the cabin", ID2),
            Fact("[brackets] at the start", ""),
            Fact("(parens) and a pin 📌 inside", "abc_1"),
            Fact("\\ starts with a backslash", ""),
        ],
        folded_upto=ID2,
    )


# --------------------------------------------------------------------------
# memory.md


def test_render_matches_the_documented_layout():
    m = Memory(
        summary="They met on a rainy evening.",
        pinned_summary="Mia is an adult.",
        facts=[Fact("Mia is a barista in Lisbon", ID1, True), Fact("We agreed to meet at the cabin", ID2)],
        folded_upto=ID2,
    )
    assert render_memory(m) == (
        f"<!-- candlelit memory v1; folded-upto: {ID2} -->\n"
        "# Summary\n\nThey met on a rainy evening.\n\n"
        "## Pinned\n\nMia is an adult.\n\n"
        "# Facts\n\n"
        f"- [pinned] Mia is a barista in Lisbon  <!-- from: {ID1} -->\n"
        f"- We agreed to meet at the cabin  <!-- from: {ID2} -->\n"
    )


def test_round_trip_is_exact_and_stable():
    m = rich_memory()
    text = render_memory(m)
    back = parse_memory(text)
    assert back == m
    assert render_memory(back) == text


def test_empty_memory_round_trips():
    text = render_memory(Memory())
    assert "folded-upto" not in text
    assert parse_memory(text) == Memory()
    assert parse_memory("") == Memory()


def test_hand_edits_are_picked_up(tmp_path):
    chat = ensure_dir(tmp_path / "chat")
    save_memory(chat, rich_memory())
    path = chat / MEMORY_FILE
    text = path.read_text(encoding="utf-8")
    text = text.replace("They walked to the river.", "They walked to the river and talked about painting.")
    text = text.replace("- We agreed to meet", "- [pinned] We agreed to meet")
    text = text.replace(
        "# Facts\n\n", "# Facts\n\n* Sam paints landscapes\n   in watercolour\n1. Mia has a cat named Pim\n"
    )
    path.write_text(text, encoding="utf-8")

    m = load_memory(chat)
    assert m.summary.endswith("They walked to the river and talked about painting.")
    facts = {f.text: f for f in m.facts}
    assert facts["We agreed to meet at the cabin"].pinned
    assert facts["We agreed to meet at the cabin"].source == ID2
    assert "Sam paints landscapes in watercolour" in facts  # indented continuation joined
    assert "Mia has a cat named Pim" in facts
    assert m.folded_upto == ID2


def test_prose_outside_sections_is_kept_as_pinned_text():
    text = (
        "Remember: keep it gentle.\n\n"
        "# Summary\nThe summary.\n"
        "## Ideas for later\nA trip to Porto.\n"
        "# FACTS:\n- one fact\n"
    )
    m = parse_memory(text)
    assert m.summary == "The summary."
    assert "Remember: keep it gentle." in m.pinned_summary
    assert "## Ideas for later\nA trip to Porto." in m.pinned_summary
    assert [f.text for f in m.facts] == ["one fact"]
    again = parse_memory(render_memory(m))  # unknown heading survives as text
    assert again == m


def test_a_file_without_any_structure_becomes_pinned_text():
    text = "Just my own notes about the story.\nMia likes rain.\n"
    m = parse_memory(text)
    assert m.pinned_summary == text.strip()
    assert m.summary == "" and m.facts == [] and m.folded_upto is None


def test_header_variants_and_bad_ids():
    assert parse_memory("<!-- candlelit memory v1; folded-upto: ../etc -->\n").folded_upto is None
    assert parse_memory("\n\n<!--candlelit memory v1;folded-upto:abc-->\n").folded_upto == "abc"
    m = parse_memory("\r\n\ufeff<!-- candlelit memory v1 -->\r\n# Summary\r\nHello\r\n")
    assert m.summary == "Hello"
    # a header that is not the first line is just text
    assert "candlelit memory" in parse_memory("hi\n<!-- candlelit memory v1 -->").pinned_summary


def test_newer_format_is_refused_not_rewritten(tmp_path):
    chat = ensure_dir(tmp_path / "chat")
    (chat / MEMORY_FILE).write_text("<!-- candlelit memory v2 -->\n# Summary\nx\n")
    with pytest.raises(MemoryFileError, match="newer Candlelit"):
        load_memory(chat)


def test_random_hand_edits_never_raise_and_settle_after_one_pass():
    pieces = [
        "# Summary", "## Pinned", "# Facts", "### facts", "## Pinned facts", "# Other", "#", "#tag",
        "\\# x", "- ", "- fact", "* [pinned] f", "+ (pinned) g", "1) h", "  continued", "\t- tab",
        "text", "", "<!-- from: abc -->", "- x <!-- from: a b -->", "<!-- candlelit memory v1 -->",
        "📌 pin", "- \\[esc]", "\\", "é ü ☕", "   ", "-",
    ]
    rng = random.Random(5)
    for _ in range(400):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        m = parse_memory(text)
        once = render_memory(m)
        assert parse_memory(once) == m
        assert render_memory(parse_memory(once)) == once


def test_every_word_a_user_writes_survives_a_save(tmp_path):
    words = ["alpha", "bravo", "charlie", "delta", "echo"]
    text = "alpha\n# Summary\nbravo\n## Pinned\ncharlie\n# Mystery\ndelta\n# Facts\n- echo\n"
    rendered = render_memory(parse_memory(text))
    for w in words:
        assert w in rendered


def test_save_is_private_and_atomic(tmp_path):
    chat = tmp_path / "chat"
    save_memory(chat, rich_memory())
    path = chat / MEMORY_FILE
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(chat).st_mode & 0o777 == 0o700
    assert sorted(p.name for p in chat.iterdir()) == [MEMORY_FILE]  # no temp files left
    assert load_memory(chat) == rich_memory()
    assert load_memory(tmp_path / "nothing-here") == Memory()


def test_carry_over_keeps_memory_and_clears_the_cut():
    m = rich_memory()
    c = carry_over(m)
    assert c.folded_upto is None
    assert (c.summary, c.pinned_summary, c.facts) == (m.summary, m.pinned_summary, m.facts)
    c.facts.append(Fact("new"))
    assert len(m.facts) == 5  # an independent list


def test_memory_prompt_text():
    text = memory_prompt_text(rich_memory())
    assert text.startswith("Story so far: Sam met Mia at a café in Lisbon. # Not a heading")
    assert "Mia is an adult who works as a barista." in text
    assert "- Mia is a barista in Lisbon\n- We agreed to meet at the cabin" in text
    assert memory_prompt_text(Memory()) == ""


# --------------------------------------------------------------------------
# folding plans


def test_no_fold_while_the_window_fits():
    assert plan_fold(["a", "b"], [40, 60], budget=100) is None
    assert plan_fold([], [], budget=100) is None


def test_fold_takes_whole_oldest_messages_of_about_a_quarter():
    ids = [f"m{i}" for i in range(10)]
    plan = plan_fold(ids, [30] * 10, budget=250)
    assert plan == FoldPlan(("m0", "m1", "m2"), 90, 300, 250)  # 90 >= 62.5, whole messages
    assert plan.upto == "m2" and plan.remaining_tokens == 210
    bigger = plan_fold(ids, [30] * 10, budget=250, chunk_fraction=0.5)
    assert bigger.ids == tuple(ids[:5])


def test_fold_keeps_the_newest_messages():
    plan = plan_fold(["a", "b", "c"], [10, 10, 500], budget=100)
    assert plan.ids == ("a",)  # "b" and "c" stay although the target is not reached
    assert plan_fold(["a", "b"], [10, 500], budget=100).ids == ("a",)
    assert plan_fold(["a"], [500], budget=100) is None  # the last message always stays


def test_max_chunk_tokens_bounds_the_summary_prompt():
    plan = plan_fold(list("abcdef"), [50, 50, 50, 50, 50, 50], budget=200, chunk_fraction=0.9,
                     max_chunk_tokens=120)
    assert plan.ids == ("a", "b")
    plan = plan_fold(list("abc"), [300, 10, 10], budget=200, max_chunk_tokens=100)
    assert plan.ids == ("a",)  # one message is always allowed


def test_bad_plan_arguments():
    with pytest.raises(ValueError):
        plan_fold(["a"], [1, 2], budget=10)
    with pytest.raises(ValueError):
        plan_fold(["a"], [1], budget=0)


def test_window_start():
    ids = [ID1, ID2, "0190f3c2a1b2c3d4e61"]
    assert window_start(ids, None) == 0
    assert window_start(ids, ID1) == 1
    assert window_start(ids, ids[-1]) == 3
    # the folded message was deleted by hand: sortable ids still tell
    assert window_start([ID1, "0190f3c2a1b2c3d4e61"], ID2) == 1
    # foreign ids and a missing cut: fold again rather than lose anything
    assert window_start(["x", "y"], "z") == 0


def simulate(turns: int, budget: int, fail_every: int = 0, seed: int = 1):
    """Grow a chat turn by turn, folding when planned; a failing summary
    leaves everything as it was. Returns (cut history, folded set, messages)."""
    rng = random.Random(seed)
    msgs: list[tuple[str, int]] = []
    folded: list[str] = []          # what the (simulated) summary covers
    upto: str | None = None
    cuts: list[int] = []
    attempts = 0
    for i in range(turns):
        msgs.append((f"{i:019x}", rng.randint(8, 60)))
        ids = [m for m, _ in msgs]
        start = window_start(ids, upto)
        plan = plan_fold(ids[start:], [t for _, t in msgs[start:]], budget)
        if plan is not None:
            attempts += 1
            if not (fail_every and attempts % fail_every == 0):
                folded.extend(plan.ids)      # summary saved first ...
                upto = plan.upto             # ... in the same write as the cut
        start = window_start(ids, upto)
        cuts.append(start)
        window = ids[start:]
        # no message is ever both out of the window and out of the summary
        assert set(ids) == set(window) | set(folded)
        assert folded == ids[: len(folded)]  # folded in order, never twice
    return cuts, folded, msgs


def test_the_cut_moves_once_per_chunk_not_per_turn():
    budget = 600
    cuts, folded, msgs = simulate(300, budget)
    moves = sum(1 for a, b in itertools.pairwise(cuts) if b != a)
    total = sum(t for _, t in msgs)
    assert moves >= 3  # the window rolled several times
    assert moves <= total // (budget // 4)  # at most one move per ~quarter of the budget
    # between moves, several turns append to the window with an unchanged cut
    gaps = [i for i, (a, b) in enumerate(itertools.pairwise(cuts)) if b != a]
    assert min(b - a for a, b in itertools.pairwise(gaps)) >= 3
    # after each fold the window is back under its budget
    ids = [m for m, _ in msgs]
    sizes = dict(msgs)
    for turn, start in enumerate(cuts):
        window = ids[start : turn + 1]
        assert sum(sizes[m] for m in window) <= budget + 60


def test_failed_summaries_never_lose_messages():
    cuts, folded, msgs = simulate(200, 400, fail_every=2, seed=3)
    assert folded  # some folds succeeded, others failed and were retried


# --------------------------------------------------------------------------
# facts


def test_fact_key_ignores_case_space_and_punctuation():
    assert fact_key("  Mia is a Barista,  in LISBON. ") == fact_key("mia is a barista in lisbon")
    assert fact_key("Mia is a barista") != fact_key("Mia is not a barista")


def test_merge_facts_dedupes_against_pinned_and_itself():
    existing = [Fact("Mia is a barista in Lisbon", ID1, True), Fact("Sam paints", ID2)]
    new = [
        Fact("mia is a barista in lisbon!", "x"),
        Fact("SAM   PAINTS", "x"),
        Fact("They like the rain", "x"),
        Fact("they like the rain.", "y"),
        Fact("Ana is a teacher at the school.", "x"),
    ]
    merged = merge_facts(existing, new, also_seen=["Ana is a teacher at the school."])
    assert merged[:2] == existing  # untouched, same order
    assert [f.text for f in merged[2:]] == ["They like the rain"]


def test_parse_fact_lines():
    out = parse_fact_lines(
        " Mia is a barista.\n- Sam: hello there\n- [pinned] Sam paints.\n*  \nthe end\n- later",
        names=["Sam", "Mia"],
    )
    assert out == ["Mia is a barista.", "Sam paints."]  # dialogue and after-list lines skipped
    assert parse_fact_lines(" One fact.\n- Cut off mid", truncated=True) == ["One fact."]
    assert parse_fact_lines("\n\n- a fact here\n- another one", first_bullet_implied=False) == [
        "a fact here", "another one",
    ]
    assert parse_fact_lines(" none") == []


# --------------------------------------------------------------------------
# templates


def test_templates_end_with_a_pattern_to_continue():
    assert templates.load("summary").endswith("Summary:")
    assert templates.load("facts").endswith("Facts:\n-")
    for name in ("summary", "facts"):
        assert "{chunk}" in templates.load(name) or "{summary_prompt}" in templates.load(name)


def test_render_template_drops_lines_with_only_empty_placeholders():
    t = "Hello {user} and {char}.\nStory so far: {summary}\nAlways true: {pinned}\n{chunk}\nKeep {braces} and {0}"
    out = render_template(t, {"user": "Sam", "char": "Mia", "summary": "", "pinned": "x", "chunk": "C"})
    assert out == "Hello Sam and Mia.\nAlways true: x\nC\nKeep {braces} and {0}"


# --------------------------------------------------------------------------
# the summary cycle with a scripted engine


def chunk() -> list[Message]:
    a = Message.new("Sam", "user", "I arrived on Tuesday to paint the harbour.")
    b = Message.new("Mia", "assistant", "Then you must see the old tram line by the water.")
    return [a, b]


def pinned_memory() -> Memory:
    return Memory(
        summary="Sam met Mia at a café.",
        pinned_summary="Mia is an adult. Mia never drinks coffee after noon.",
        facts=[Fact("Mia keeps a secret diary", ID1, True), Fact("Sam is a painter", ID2)],
        folded_upto=ID2,
    )


def test_summarize_builds_a_new_memory(scripted):
    eng = scripted([
        "Sam told Mia he came to paint, and she suggested the tram line. Extra",
        "Sam came to paint the harbour.\n- sam is a PAINTER\n- Ana is a teacher at the school.\n"
        "- Mia knows the old tram line",
    ])
    old = pinned_memory()
    snapshot = copy.deepcopy(old)
    msgs = chunk()
    new = summarize(eng, old, msgs, "Mia", "Sam")

    assert old == snapshot  # the old memory is untouched
    assert new.summary == (
        "Sam met Mia at a café.\n\nSam told Mia he came to paint, and she suggested the tram line. Extra"
    )
    assert new.pinned_summary == old.pinned_summary
    assert new.folded_upto == msgs[-1].id
    texts = [f.text for f in new.facts]
    assert new.facts[:2] == old.facts  # pinned and earlier facts verbatim, in place
    assert texts[2:] == ["Sam came to paint the harbour.", "Mia knows the old tram line"]
    assert new.facts[2].source == msgs[0].id  # best match: shares "paint", "harbour"
    assert new.facts[3].source == msgs[1].id

    summary_prompt = eng.requests[0]
    assert all(r.background for r in eng.requests)
    prompts = ["".join(chr(t) for t in r.tokens[1:]) for r in eng.requests]
    assert "I arrived on Tuesday to paint the harbour." in prompts[0]
    assert "Story so far: Sam met Mia at a café." in prompts[0]
    assert all("secret diary" not in p for p in prompts)  # pinned facts are never sent
    assert prompts[0].endswith("Summary:") and prompts[1].endswith("Facts:\n-")
    assert "\nSam:" in summary_prompt.stop and "\nMia:" in summary_prompt.stop


def test_a_cut_off_summary_ends_at_a_sentence(scripted):
    class Truncating(scripted):
        def stream(self, request, cancel=None):
            for ev in super().stream(request, cancel):
                if hasattr(ev, "reason"):
                    ev = type(ev)(ev.text, "length", ev.metrics)
                yield ev

    eng = Truncating(["They walked to the river. Then they", "A fact.\n- cut"])
    new = summarize(eng, Memory(), chunk(), "Mia", "Sam")
    assert new.summary == "They walked to the river."
    assert [f.text for f in new.facts] == ["A fact."]


def test_summarize_cancelled_raises_and_keeps_memory(scripted):
    eng = scripted(["one two three four five six"])
    eng.gate.clear()  # hold the scripted model before its first word
    cancel = threading.Event()
    old = pinned_memory()
    snapshot = copy.deepcopy(old)
    threading.Timer(0.05, lambda: (cancel.set(), eng.gate.set())).start()
    with pytest.raises(SummaryCancelled):
        summarize(eng, old, chunk(), "Mia", "Sam", cancel=cancel)
    assert old == snapshot


def test_summarize_failures_are_clear(scripted):
    with pytest.raises(SummaryFailed, match="empty summary"):
        summarize(scripted(["   "]), Memory(), chunk(), "Mia", "Sam")
    with pytest.raises(SummaryFailed, match="no messages"):
        summarize(scripted(), Memory(), [], "Mia", "Sam")
    long = [Msg(ID1, "Sam", "word " * 600)]
    with pytest.raises(SummaryFailed, match="context holds 2048"):
        summarize(scripted(), Memory(), long, "Mia", "Sam")

    class Broken(scripted):
        def stream(self, request, cancel=None):
            raise EngineError("the model is not loaded")
            yield  # pragma: no cover

    with pytest.raises(SummaryFailed, match="not loaded"):
        summarize(Broken(), Memory(), chunk(), "Mia", "Sam")


def test_fold_saves_summary_and_cut_together(tmp_path, scripted):
    chat = ensure_dir(tmp_path / "chat")
    save_memory(chat, pinned_memory())
    msgs = chunk()
    new = fold(scripted(["They talked about painting.", "Sam paints harbours."]), chat, msgs, "Mia", "Sam")
    on_disk = load_memory(chat)
    assert on_disk == new
    assert on_disk.folded_upto == msgs[-1].id
    assert on_disk.summary.endswith("They talked about painting.")
    assert on_disk.pinned_summary == pinned_memory().pinned_summary


def test_failed_fold_leaves_the_file_untouched(tmp_path, scripted):
    chat = ensure_dir(tmp_path / "chat")
    save_memory(chat, pinned_memory())
    before = (chat / MEMORY_FILE).read_bytes()
    with pytest.raises(SummaryFailed):
        fold(scripted(["  "]), chat, chunk(), "Mia", "Sam")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SummaryCancelled):
        fold(scripted(["words"]), chat, chunk(), "Mia", "Sam", cancel=cancel)
    assert (chat / MEMORY_FILE).read_bytes() == before


def test_a_hand_edit_during_the_summary_wins(tmp_path, scripted):
    chat = ensure_dir(tmp_path / "chat")
    save_memory(chat, pinned_memory())

    class EditsMeanwhile(scripted):
        def stream(self, request, cancel=None):
            path = chat / MEMORY_FILE
            path.write_text(path.read_text() + "- Added by hand while summarizing\n")
            return super().stream(request, cancel)

    with pytest.raises(MemoryChanged):
        fold(EditsMeanwhile(["A summary.", "A fact."]), chat, chunk(), "Mia", "Sam")
    m = load_memory(chat)
    assert m.facts[-1].text == "Added by hand while summarizing"
    assert m.folded_upto == ID2  # the cut did not move


def test_new_message_ids_are_sortable_for_window_start():
    a, b = new_message_id(), new_message_id()
    assert window_start([a, b], a) == 1


def test_custom_templates_without_an_open_bullet(scripted):
    eng = scripted(["They met.", "\n- Mia sings in a choir\n- Sam: not a fact\nThe end."])
    new = summarize(
        eng, Memory(), chunk(), "Mia", "Sam",
        templates={"summary": "{chunk}\nIn short:", "facts": "{user}/{char}\n{chunk}\nFacts:"},
    )
    prompts = ["".join(chr(t) for t in r.tokens[1:]) for r in eng.requests]
    assert prompts[0].endswith("harbour.\nMia: Then you must see the old tram line by the water.\nIn short:")
    assert prompts[1].startswith("Sam/Mia\n")
    assert new.summary == "They met."
    assert [f.text for f in new.facts] == ["Mia sings in a choir"]


def test_the_story_so_far_in_the_summary_prompt_stays_within_its_budget(scripted):
    eng = scripted(["They met.", "- Mia sings"])
    long_story = "\n\n".join(f"Paragraph {i} about the harbour and the tram." for i in range(200))
    new = summarize(eng, Memory(summary=long_story), chunk(), "Mia", "Sam", summary_budget=120)
    prompt = "".join(chr(t) for t in eng.requests[0].tokens[1:])
    story = next(line for line in prompt.split("\n") if line.startswith("Story so far:"))
    assert len(story) - len("Story so far: ") <= 120          # the scripted tokenizer: one token per character
    assert "Paragraph 199 " in story and "Paragraph 0 " not in story  # the newest paragraphs are kept
    assert new.summary.startswith("Paragraph 0 about") and new.summary.endswith("They met.")  # memory.md keeps all


def test_a_summary_written_as_bullets_is_kept_as_sentences(scripted):
    eng = scripted(["- The cat guards the chair. - Mara pours tea.", "- Mia sings"])
    new = summarize(eng, Memory(), chunk(), "Mia", "Sam")
    assert new.summary == "The cat guards the chair. Mara pours tea."


def test_an_empty_summary_is_retried_once_with_the_next_seed(scripted):
    eng = scripted(["  ", "They met at the tram stop.", "- Mia sings"])
    new = summarize(eng, Memory(), chunk(), "Mia", "Sam")
    assert new.summary == "They met at the tram stop."
    seeds = [r.sampling.seed for r in eng.requests[:2]]
    assert seeds == [1234, 1235] and eng.requests[1].sampling.temperature >= 0.7
