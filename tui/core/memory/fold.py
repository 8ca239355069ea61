"""Folding: when the recent window outgrows its budget, the oldest chunk of
unfolded messages is summarized into memory.md (``plan_fold``,
``summarize``, ``fold``). The cut moves once per chunk, so the prompt's
prefix and the KV cache stay put between folds. See docs/ARCHITECTURE.md,
"The memory fold"."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tui.core import templates as prompt_files
from tui.core.engine.api import Engine, EngineError, Finished, GenerationRequest, Sampling
from tui.core.engine.cancel import LinkedEvent
from tui.core.engine.literal import literal_for
from tui.core.errors import CandlelitError
from tui.core.memory.document import (
    BULLET_RE,
    MEMORY_VERSION,
    PIN_RE,
    Fact,
    FoldMessage,
    Memory,
    memory_path,
    one_line,
    parse_memory,
    read_text,
    save_memory,
)

#: Summaries should be calm and factual: low temperature, room for a paragraph.
# A fixed seed: the same chat folds into the same memory (reproducible, and
# tests are deterministic); an empty answer is retried once with the next seed.
SUMMARY_SAMPLING = Sampling(
    temperature=0.3, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, seed=1234, max_tokens=160
)

_SORTABLE_ID_RE = re.compile(r"^[0-9a-f]{19}$")  # tui.core.storage.store.new_message_id()


class SummaryError(CandlelitError):
    """A summary cycle did not complete; the old memory is kept."""


class SummaryFailed(SummaryError):
    """The model could not produce a usable summary (or the chunk is too long)."""


class SummaryCancelled(SummaryError):
    """The summary was cancelled or preempted by a user turn."""


class MemoryChanged(SummaryCancelled):
    """memory.md was edited while the summary was being written; try again."""


# --------------------------------------------------------------------------
# when to fold


@dataclass(frozen=True)
class FoldPlan:
    """The oldest unfolded messages to fold now, in chat order."""

    ids: tuple[str, ...]
    tokens: int             # their tokens
    window_tokens: int      # the unfolded window before folding
    budget: int

    @property
    def upto(self) -> str:
        """The id ``Memory.folded_upto`` becomes once this fold is saved."""
        return self.ids[-1]

    @property
    def remaining_tokens(self) -> int:
        """The window after folding (still over ``budget``: fold again)."""
        return self.window_tokens - self.tokens


def window_start(message_ids: Sequence[str], folded_upto: str | None) -> int:
    """Index of the first message not yet folded into the summary.

    If ``folded_upto`` is no longer in the chat (deleted by hand), messages
    with our time-sortable ids that sort at or before it still count as
    folded; otherwise nothing does (a message may be summarized twice, but
    none is lost from both the window and the summary)."""
    if not folded_upto:
        return 0
    for i, mid in enumerate(message_ids):
        if mid == folded_upto:
            return i + 1
    ids = list(message_ids)
    if _SORTABLE_ID_RE.match(folded_upto) and all(_SORTABLE_ID_RE.match(i) for i in ids) \
            and ids == sorted(ids):
        return sum(1 for i in ids if i <= folded_upto)
    return 0


def plan_fold(
    ids: Sequence[str],
    tokens: Sequence[int],
    budget: int,
    chunk_fraction: float = 0.25,
    *,
    keep_last: int = 2,
    max_chunk_tokens: int | None = None,
) -> FoldPlan | None:
    """What to fold now, or None while the unfolded window fits ``budget``.

    ``ids``/``tokens`` are the unfolded window's messages, oldest first, and
    their token counts. The chunk is whole messages from the oldest, at least
    ``chunk_fraction`` of ``budget`` where possible, always leaving the
    newest ``keep_last`` messages in the window (at least one), and not
    growing past ``max_chunk_tokens`` once it holds a message (so the summary
    prompt fits the context). A window far over budget takes several folds:
    check ``remaining_tokens`` after saving and plan again."""
    if len(ids) != len(tokens):
        raise ValueError("ids and tokens must have the same length")
    if budget <= 0:
        raise ValueError("the window budget must be positive")
    total = sum(tokens)
    if total <= budget:
        return None
    fraction = min(1.0, max(0.01, chunk_fraction))
    target = max(1, math.ceil(budget * fraction))
    limit = len(ids) - max(1, keep_last)
    if limit < 1:
        limit = len(ids) - 1
    if limit < 1:
        return None
    taken = 0
    acc = 0
    while taken < limit and acc < target:
        nxt = tokens[taken]
        if taken and max_chunk_tokens is not None and acc + nxt > max_chunk_tokens:
            break
        acc += nxt
        taken += 1
    return FoldPlan(tuple(ids[:taken]), acc, total, budget)


# --------------------------------------------------------------------------
# prompt templates


_TEMPLATE_NAMES = ("user", "char", "summary", "pinned", "chunk", "facts", "summary_prompt", "paragraph")


def render_template(template: str, values: dict[str, str]) -> str:
    """A memory template filled; its own placeholders that ``values`` lacks
    count as empty (other braces are kept)."""
    return prompt_files.fill(template, {n: values.get(n, "") for n in _TEMPLATE_NAMES})


# --------------------------------------------------------------------------
# summarizing


_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    "the a an and or but to of in on at for with from by is are was were be been it its this that "
    "we you he she they i me my your our their his her them us will would can could has have had "
    "do does did not no so as then than there here what who when where why how".split()
)
_SENTENCE_END_RE = re.compile(r"[.!?…][\"'”’)\]]*(?=\s|$)")
_ENDS_SENTENCE_RE = re.compile(r"[.!?…][\"'”’)\]]*$")


def fact_key(text: str) -> str:
    """De-duplication key: case, spacing and punctuation do not matter."""
    return " ".join(_WORD_RE.findall(text.casefold()))


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.casefold()) if len(w) > 2 and w not in _STOPWORDS}


def best_source(fact: str, messages: Sequence[FoldMessage]) -> str:
    """The message a fact most likely came from: the most shared content
    words (at least two, later messages win ties), else the chunk's last."""
    words = _content_words(fact)
    best, best_score = messages[-1].id, 1
    for msg in messages:
        score = len(words & _content_words(msg.text))
        if score >= best_score and score >= 2:
            best, best_score = msg.id, score
    return best


def parse_fact_lines(
    text: str,
    *,
    names: Iterable[str] = (),
    truncated: bool = False,
    first_bullet_implied: bool = True,
) -> list[str]:
    """Facts from the model's bullet list, cleaned; junk lines are skipped.

    ``text`` is the list as the model wrote it; when the template ends with
    ``-`` the first line's bullet is implied. The list ends at the first line
    that is not a bullet. A last line cut off by the token limit is dropped
    unless it ends a sentence."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not first_bullet_implied:
        while lines and not lines[0].strip():
            lines.pop(0)
    prefixes = tuple(f"{n.casefold()}:" for n in names if n)
    out: list[str] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if i == 0 and first_bullet_implied:
            body = line
        else:
            bullet = BULLET_RE.match(line)
            if not bullet:
                break  # the list ended
            body = (bullet.group(1) or "").strip()
        if truncated and i == len(lines) - 1 and not _ENDS_SENTENCE_RE.search(body):
            break
        body = PIN_RE.sub("", body)
        body = one_line(body).strip("-*• ")
        if not body or len(body) < 4 or len(body) > 200:
            continue
        if body.casefold().startswith(prefixes) or body.casefold() in ("none", "none.", "n/a"):
            continue
        out.append(body)
    return out


def merge_facts(
    existing: Sequence[Fact], new: Iterable[Fact], *, also_seen: Iterable[str] = ()
) -> list[Fact]:
    """``existing`` unchanged, then each new fact not already known
    (case-, space- and punctuation-insensitive) in order."""
    seen = {fact_key(f.text) for f in existing} | {fact_key(s) for s in also_seen}
    out = list(existing)
    for f in new:
        key = fact_key(f.text)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out


def _clean_summary(text: str, truncated: bool) -> str:
    text = text.replace("\r\n", "\n").strip()
    text = text.split("\n\n", 1)[0].strip()
    text = one_line(text)
    # small models sometimes write the summary as bullets: keep the sentences
    text = re.sub(r"^(?:[-*•]\s+)+", "", text)
    text = re.sub(r"(?<=[.!?…])\s+[-*•]\s+", " ", text)
    if truncated:
        ends = list(_SENTENCE_END_RE.finditer(text))
        if ends:
            text = text[: ends[-1].end()]
    return text.strip()


def _chunk_text(messages: Sequence[FoldMessage]) -> str:
    lines = []
    for m in messages:
        body = re.sub(r"\n\s*\n+", "\n", m.text.replace("\r\n", "\n")).strip()
        lines.append(f"{m.speaker}: {body}")
    return "\n".join(lines)


def _generate(
    engine: Engine,
    prompt: str,
    sampling: Sampling,
    stop: list[str],
    cancel: threading.Event | None,
) -> Finished:
    try:
        tokens = engine.tokenize(prompt, add_bos=True)
        n_ctx = engine.info.n_ctx
        if len(tokens) + min(sampling.max_tokens, 32) >= n_ctx:
            raise SummaryFailed(
                f"the messages to summarize need {len(tokens)} tokens but the context "
                f"holds {n_ctx}; fold smaller chunks"
            )
        req = GenerationRequest(tokens, sampling, stop=stop, background=True)
        fin: Finished | None = None
        for ev in engine.stream(req, LinkedEvent(cancel)):
            if isinstance(ev, Finished):
                fin = ev
    except EngineError as exc:
        raise SummaryFailed(f"the summary could not be written: {exc}") from None
    if fin is None:
        raise SummaryFailed("the summary could not be written: the model stopped early")
    if fin.reason == "cancelled" or (cancel is not None and cancel.is_set()):
        why = "a reply came first" if fin.metrics.get("preempted") else "it was cancelled"
        raise SummaryCancelled(f"the memory was not updated: {why}")
    return fin


def summarize(
    engine: Engine,
    memory: Memory,
    messages_to_fold: Sequence[FoldMessage],
    char_name: str,
    user_name: str,
    *,
    cancel: threading.Event | None = None,
    sampling: Sampling | None = None,
    max_new_facts: int = 8,
    max_facts: int = 64,
    templates: dict[str, str] | None = None,
    summary_budget: int | None = None,
) -> Memory:
    """Fold ``messages_to_fold`` into a NEW Memory (``memory`` is untouched).

    Runs ``prompts/summary.txt`` then ``prompts/facts.txt`` as background
    jobs. The new summary paragraph is appended to the old summary; new facts
    are de-duplicated against every known fact and carry the id of the
    message they most likely came from; the pinned summary and pinned facts
    are copied verbatim and never sent to the model for rewriting. Unpinned
    facts beyond ``max_facts`` are dropped oldest first; pinned ones never.
    ``folded_upto`` becomes the last folded message's id.

    Raises ``SummaryCancelled`` (cancelled or preempted) or ``SummaryFailed``.
    """
    if not messages_to_fold:
        raise SummaryFailed("there are no messages to summarize")
    sampling = sampling or SUMMARY_SAMPLING
    tmpl = {"summary": prompt_files.load("summary"), "facts": prompt_files.load("facts")}
    tmpl.update(templates or {})
    budget = summary_budget if summary_budget is not None else max(32, engine.info.n_ctx // 8)
    values = {
        "user": user_name,
        "char": char_name,
        "summary": _story_so_far(engine, memory, budget),
        "pinned": memory.pinned_summary.strip(),
        "chunk": _chunk_text(messages_to_fold),
        "facts": "\n".join(f"- {one_line(f.text)}" for f in memory.facts if not f.pinned),
    }
    literal = literal_for(engine.info.control_tokens)  # chat text never becomes a control token
    values = {k: literal(v) for k, v in values.items()}
    speakers = list(dict.fromkeys([user_name, char_name, *(m.speaker for m in messages_to_fold)]))
    stop = ["\n\n", "\nConversation:", "\nFacts:", *(f"\n{n}:" for n in speakers if n)]

    # The facts prompt (by default) continues the summary prompt after the
    # model's summary, so the engine reuses the whole chunk from its cache
    # and the facts cost only their own generation.
    values["summary_prompt"] = render_template(tmpl["summary"], values)
    paragraph, values["paragraph"] = _summary_paragraph(engine, values["summary_prompt"], sampling, stop, cancel)
    facts_prompt = render_template(tmpl["facts"], values)
    fin = _generate(engine, facts_prompt, sampling, stop, cancel)
    lines = parse_fact_lines(
        fin.text,
        names=speakers,
        truncated=fin.reason == "length",
        first_bullet_implied=facts_prompt.endswith("-"),
    )
    new_facts = [Fact(t, best_source(t, messages_to_fold)) for t in lines[:max_new_facts]]
    # the template's own example facts are not facts of this chat
    examples = [one_line(b.group(1) or "") for b in map(BULLET_RE.match, facts_prompt.split("\n")) if b]
    facts = _keep_newest(merge_facts(memory.facts, new_facts, also_seen=examples), max_facts)

    summary = memory.summary.strip()
    summary = f"{summary}\n\n{paragraph}" if summary else paragraph
    return replace(
        memory,
        summary=summary,
        pinned_summary=memory.pinned_summary,
        facts=facts,
        folded_upto=messages_to_fold[-1].id,
        version=MEMORY_VERSION,
    )


def _story_so_far(engine: Engine, memory: Memory, budget: int) -> str:
    """The summary's newest paragraphs within ``budget`` tokens (n_ctx/8 by
    default), so the summary prompt never outgrows the context however long
    the chat gets."""
    paragraphs = [" ".join(p.split()) for p in memory.summary.split("\n\n") if p.strip()]
    while len(paragraphs) > 1 and engine.count(" ".join(paragraphs)) > budget:
        paragraphs.pop(0)
    return " ".join(paragraphs)


def _summary_paragraph(
    engine: Engine, prompt: str, sampling: Sampling, stop: list[str], cancel: threading.Event | None
) -> tuple[str, str]:
    """The new summary paragraph, cleaned, and the model's own words for the
    facts prompt; an empty answer is tried once more, a little bolder."""
    fin = _generate(engine, prompt, sampling, stop, cancel)
    paragraph = _clean_summary(fin.text, fin.reason == "length")
    if not paragraph:
        retry = replace(sampling, seed=sampling.seed + 1 if sampling.seed >= 0 else -1,
                        temperature=max(0.7, sampling.temperature))
        fin = _generate(engine, prompt, retry, stop, cancel)
        paragraph = _clean_summary(fin.text, fin.reason == "length")
    if not paragraph:
        raise SummaryFailed("the model wrote an empty summary; the memory was not updated")
    return paragraph, (" ".join(fin.text.split()) if fin.reason != "length" else paragraph)


def _keep_newest(facts: list[Fact], max_facts: int) -> list[Fact]:
    """Drop the oldest unpinned facts beyond ``max_facts``; pinned ones stay."""
    excess = sum(1 for f in facts if not f.pinned) - max(0, max_facts)
    if excess <= 0:
        return facts
    kept = []
    for f in facts:
        if not f.pinned and excess > 0:
            excess -= 1
            continue
        kept.append(f)
    return kept


_SAVE_LOCK = threading.Lock()


def fold(
    engine: Engine,
    chat_dir: Path,
    messages_to_fold: Sequence[FoldMessage],
    char_name: str,
    user_name: str,
    *,
    cancel: threading.Event | None = None,
    sampling: Sampling | None = None,
) -> Memory:
    """One summary cycle on disk: read memory.md, summarize, save.

    The summary and the new ``folded_upto`` land in one atomic write, so the
    window's cut only moves once the summary covering it is durable. If
    memory.md changed while the model was writing (a hand edit), nothing is
    saved and ``MemoryChanged`` is raised: the user's edit wins, and the
    fold can simply be tried again."""
    path = memory_path(chat_dir)
    before = read_text(path)
    old = parse_memory(before) if before is not None else Memory()
    new = summarize(
        engine, old, messages_to_fold, char_name, user_name, cancel=cancel, sampling=sampling
    )
    with _SAVE_LOCK:
        if not chat_dir.is_dir():  # deleted meanwhile: writing would recreate it as an orphan
            raise MemoryChanged("the chat was deleted while its summary was written; not saved")
        if read_text(path) != before:
            raise MemoryChanged("memory.md was edited while the summary was written; not saved")
        if cancel is not None and cancel.is_set():
            raise SummaryCancelled("the memory was not updated: it was cancelled")
        save_memory(chat_dir, new)
    return new
