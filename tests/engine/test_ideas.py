"""Ideas and rehearsal: prompt building, parsing and the saved list (pure),
and one generation of each on the real default model (temperature 0)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from tui.core import templates
from tui.core.engine.api import Chunk, Finished, Sampling
from tui.core.engine.scripted import ScriptedEngine
from tui.core.profile.personas import PersonaProfile
from tui.core.scene import ideas as I
from tui.core.scene import rehearsal as R

GREEDY = Sampling(temperature=0.0, seed=1, max_tokens=200)

ALEX = PersonaProfile(
    "Alex", "A patient carpenter who loves old maps.", hard_limits=("spiders",), soft_limits=("heights",)
)
SAM = PersonaProfile("Sam", "A cheerful nurse with a dry sense of humour.", hard_limits=("violence", "jealousy"))


# --------------------------------------------------------------------------
# the prompt


def test_prompt_names_both_people_and_states_both_hard_limits():
    prompt = I.build_ideas_prompt(["travel", "mystery"], [ALEX, SAM])
    for needle in ("Alex and Sam", "About Alex: A patient carpenter", "About Sam: A cheerful nurse",
                   "Themes: travel, mystery", "- spiders (Alex)", "- violence (Sam)", "- jealousy (Sam)",
                   "- heights (Alex)", "adult"):
        assert needle in prompt, needle
    hard = prompt.index("Hard limits")
    soft = prompt.index("Soft limits")
    assert hard < prompt.index("- spiders (Alex)") < soft < prompt.index("- heights (Alex)")
    assert prompt.endswith("Scene ideas:\n1.")
    assert "{" not in prompt  # every placeholder filled


def test_prompt_without_limits_or_descriptions_leaves_those_lines_out():
    prompt = I.build_ideas_prompt([], [PersonaProfile("Kai"), PersonaProfile("Noor")])
    assert "Kai and Noor" in prompt and "About " not in prompt and "Boundaries" not in prompt
    assert "Themes: anything warm and surprising" in prompt
    with pytest.raises(I.IdeasError):
        I.build_ideas_prompt(["travel"], [])


def test_fill_prompt_keeps_unknown_braces_and_drops_empty_lines():
    out = templates.fill("A {x} {y}\nB {z}\nC {unknown}", {"x": "1", "y": "", "z": ""})
    assert out == "A 1 \nC {unknown}"


# --------------------------------------------------------------------------
# parsing


def test_parse_numbered_list_with_implied_first_item_and_wrapped_lines():
    text = (" A night ferry to an island where the lighthouse keeper\n"
            "   has gone missing.\n"
            "2. **A cooking class** in Lisbon that goes gloriously wrong.\n"
            "3) The two of them inherit a dusty bookshop with a locked room.\n"
            "\n"
            "Couple: someone else\n"
            "4. Never seen.")
    assert I.parse_ideas(text) == [
        "A night ferry to an island where the lighthouse keeper has gone missing.",
        "A cooking class in Lisbon that goes gloriously wrong.",
        "The two of them inherit a dusty bookshop with a locked room.",
    ]


def test_parse_drops_repeats_examples_short_lines_and_a_cut_off_last_item():
    text = (" Two old friends meet again at a snowy train station.\n"
            "2. two old friends meet again, at a SNOWY train station!\n"
            "3. Ok.\n"
            "4. A lighthouse keeper asks for help one stormy night.\n"
            "5. A picnic on the roof when the power goes out across the")
    got = I.parse_ideas(text, truncated=True, exclude=["A lighthouse keeper asks for help one stormy night."])
    assert got == ["Two old friends meet again at a snowy train station."]
    # not truncated: the last item is kept as it is
    assert I.parse_ideas(text)[-1].startswith("A picnic on the roof")
    # a list that starts on a new line, not inside item 1
    assert I.parse_ideas("\n1. A quiet dinner in a tiny restaurant by the sea.", first_implied=False) == [
        "A quiet dinner in a tiny restaurant by the sea."
    ]
    assert I.parse_ideas("") == []
    many = "\n".join(f"{i}. Idea number {i} about a long walk home." for i in range(1, 30))
    assert len(I.parse_ideas(many, first_implied=False)) == I.MAX_IDEAS


def test_ideas_naming_a_hard_limit_are_caught():
    assert I.crosses_limits("A quiet cabin full of Spiders and old maps.", [ALEX, SAM]) == "spiders"
    assert I.crosses_limits("A quiet cabin and old maps.", [ALEX, SAM]) is None
    assert I.crosses_limits("Nonviolent protest", [SAM]) is None  # whole words only


class ListEngine(ScriptedEngine):
    """A stand-in engine that answers every request with one fixed text."""

    def __init__(self, text: str) -> None:
        super().__init__(n_ctx=4096)
        self.text = text

    def tokenize(self, text, *, add_bos=True):
        return [1] * (len(text) // 4 + 1)

    def count(self, text):
        return len(self.tokenize(text, add_bos=False))

    def stream(self, request, cancel=None):
        self.requests.append(request)
        if cancel is not None and cancel.is_set():
            yield Finished("", "cancelled", {})
            return
        yield Chunk(self.text)
        yield Finished(self.text, "stop", {})


def test_generate_filters_hard_limits_and_stops_after_the_asked_count():
    eng = ListEngine(" A ghost story with spiders in the attic.\n2. A slow dance at a village fair after the rain.\n"
                     "3. A rooftop garden that needs two people to save it.")
    got = I.generate_ideas(eng, ["romance"], [ALEX, SAM], count=2)
    assert got == [
        "A slow dance at a village fair after the rain.",
        "A rooftop garden that needs two people to save it.",
    ]
    assert "\n3." in eng.requests[0].stop and "\n\n" in eng.requests[0].stop
    with pytest.raises(I.IdeasError):
        I.generate_ideas(ListEngine(" spiders everywhere, spiders in the hall."), ["x"], [ALEX])
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(I.IdeasCancelled):
        I.generate_ideas(eng, ["x"], [ALEX], cancel=cancel)


# --------------------------------------------------------------------------
# the saved list


def test_saved_ideas_round_trip_private_and_without_repeats(tmp_path):
    root = tmp_path / "profile"
    root.mkdir(mode=0o700)
    assert I.load_ideas(root) == []
    I.save_idea(root, "A night ferry to an island.", ["travel"])
    ideas = I.save_idea(root, "a night FERRY to an island", ["mystery"])  # the same idea
    assert [i.text for i in ideas] == ["A night ferry to an island."]
    I.save_idea(root, "A bookshop with a locked room.")
    loaded = I.load_ideas(root)
    assert [i.text for i in loaded] == ["A night ferry to an island.", "A bookshop with a locked room."]
    assert loaded[0].themes == ("travel",) and loaded[0].created
    path = root / "ideas.toml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "version = 1" in path.read_text()
    assert [i.text for i in I.remove_idea(root, "A night ferry to an island.")] == ["A bookshop with a locked room."]
    with pytest.raises(I.IdeasError):
        I.remove_idea(root, "never saved")


def test_broken_or_newer_ideas_file_is_one_clear_error(tmp_path):
    (tmp_path / "ideas.toml").write_text("version = [")
    with pytest.raises(I.IdeasError, match="not valid TOML"):
        I.load_ideas(tmp_path)
    (tmp_path / "ideas.toml").write_text("version = 9\n")
    with pytest.raises(I.IdeasError, match="newer Candlelit"):
        I.load_ideas(tmp_path)


# --------------------------------------------------------------------------
# rehearsal prompts


def test_rehearsal_prompts():
    r = R.Rehearsal("  asking for one evening a week without phones ", "Alex", "Mara", "A bookseller.")
    lines = [R.Line("Alex", "Can we talk about our evenings?"), R.Line("Mara", "Of course. What is on your mind?")]
    p = R.partner_prompt(r, lines)
    assert "asking for one evening a week without phones" in p and "About Mara: A bookseller." in p
    assert "Alex: Can we talk about our evenings?\nMara: Of course." in p
    assert p.endswith("\nMara:")
    f = R.feedback_prompt(r, lines)
    assert "feedback on clarity" in f and f.endswith("Coach:") and "Alex: Can we talk" in f
    with pytest.raises(R.RehearsalError):
        R.feedback_prompt(r, [R.Line("Mara", "Hello.")])  # nothing of Alex's to give feedback on
    with pytest.raises(R.RehearsalError):
        R.Rehearsal("   ", "Alex", "Mara")
    assert set(R.templates()) == {"partner", "feedback"}


# --------------------------------------------------------------------------
# the real model


@pytest.mark.model
def test_real_model_generates_parsed_ideas_within_limits(engine):
    ideas = I.generate_ideas(engine, ["travel", "mystery"], [ALEX, SAM], sampling=GREEDY)
    assert 1 <= len(ideas) <= I.DEFAULT_COUNT
    for idea in ideas:
        assert len(idea) >= I.MIN_IDEA and "\n" not in idea
        assert I.crosses_limits(idea, [ALEX, SAM]) is None
    assert len({I.idea_key(i) for i in ideas}) == len(ideas)


@pytest.mark.model
def test_real_model_partner_reply_stops_before_the_users_line(engine):
    r = R.Rehearsal("asking for one evening a week without phones", "Alex", "Mara", "A bookseller.")
    lines = [R.Line("Alex", "Can we talk? I'd love one evening a week where we both put our phones away.")]
    events = list(R.partner_reply(engine, r, lines, sampling=Sampling(temperature=0.0, seed=1, max_tokens=80)))
    fin = events[-1]
    assert isinstance(fin, Finished) and fin.text
    assert "Alex:" not in fin.text
    assert "".join(e.text for e in events if isinstance(e, Chunk)).strip() == fin.text
