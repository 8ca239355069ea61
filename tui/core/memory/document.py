"""memory.md: the rolling summary, the pinned text and the facts of one
chat, as plain Markdown a person can read and edit (``Memory``, parse and
render, load and save, the memory's prompt text). Folding lives in
``tui.core.memory.fold``. See docs/ARCHITECTURE.md, "The memory fold"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tui.core.errors import CandlelitError
from tui.core.fsio import as_path, atomic_write
from tui.core.storage.model import ID_RE as _ID_RE

MEMORY_VERSION = 1
MEMORY_FILE = "memory.md"




# --------------------------------------------------------------------------
# errors


class MemoryFileError(CandlelitError):
    """memory.md cannot be read or written; ``str()`` is one clear line."""


# --------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Fact:
    text: str
    source: str = ""        # id of the message it came from ("" when unknown)
    pinned: bool = False    # written or pinned by the user: never dropped


@dataclass
class Memory:
    summary: str = ""               # model-written, one paragraph per fold
    pinned_summary: str = ""        # user-written, never rewritten by the model
    facts: list[Fact] = field(default_factory=list)
    folded_upto: str | None = None  # id of the last message folded into the summary
    version: int = MEMORY_VERSION

    @property
    def is_empty(self) -> bool:
        return not (self.summary.strip() or self.pinned_summary.strip() or self.facts)


class FoldMessage(Protocol):
    """What summarizing needs from a message (``tui.core.storage.store.Message`` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def speaker(self) -> str: ...

    @property
    def text(self) -> str: ...


# --------------------------------------------------------------------------
# memory.md: render and parse

_HEADER_RE = re.compile(r"^<!--\s*candlelit\s+memory\s+v(\d+)\b(.*?)-->\s*$", re.IGNORECASE)
_UPTO_RE = re.compile(r"folded-upto:\s*([^\s;]+)", re.IGNORECASE)
# "# Title", "## Title ##": the closing #s are stripped in code (a lazy group
# before optional runs backtracked quadratically on a line of spaces)
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$")
BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])(?:\s+(.*))?$")
PIN_RE = re.compile(r"^(?:\[\s*pinned\s*\]|\(\s*pinned\s*\)|📌)\s*", re.IGNORECASE)
# matched from the last "<!--" on (a search from every position of a long
# run of spaces was quadratic)
_SOURCE_RE = re.compile(r"<!--\s*from:\s*([^\s>]*)\s*-->\s*$", re.IGNORECASE)
_ESCAPE_RE = re.compile(r"^(\s*)(\\*#)")
_UNESCAPE_RE = re.compile(r"^(\s*)\\(\\*#)")

_SECTIONS = {
    "summary": "summary",
    "story so far": "summary",
    "rolling summary": "summary",
    "pinned": "pinned",
    "pinned summary": "pinned",
    "pinned notes": "pinned",
    "notes": "pinned",
    "facts": "facts",
    "pinned facts": "pinned_facts",
}


def _escape(text: str) -> str:
    return "\n".join(_ESCAPE_RE.sub(r"\1\\\2", line) for line in text.split("\n"))


def _unescape(line: str) -> str:
    return _UNESCAPE_RE.sub(r"\1\2", line)


def one_line(text: str) -> str:
    return " ".join(text.split())


def render_memory(m: Memory) -> str:
    """memory.md text for ``m`` (stable: ``render(parse(render(m)))`` is the same)."""
    header = f"<!-- candlelit memory v{MEMORY_VERSION}"
    if m.folded_upto and _ID_RE.match(m.folded_upto):
        header += f"; folded-upto: {m.folded_upto}"
    lines = [header + " -->", "# Summary", ""]
    if m.summary.strip():
        lines += [_escape(m.summary.strip()), ""]
    lines += ["## Pinned", ""]
    if m.pinned_summary.strip():
        lines += [_escape(m.pinned_summary.strip()), ""]
    lines += ["# Facts", ""]
    for f in m.facts:
        text = one_line(f.text)
        if not text:
            continue
        if text.startswith(("[", "(", "📌", "\\")):
            text = "\\" + text  # never read back as a pin marker
        line = f"- {'[pinned] ' if f.pinned else ''}{text}"
        if f.source and _ID_RE.match(f.source):
            line += f"  <!-- from: {f.source} -->"
        lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n"


def _parse_fact(body: str, default_pinned: bool) -> Fact | None:
    source = ""
    at = body.rfind("<!--")
    m = _SOURCE_RE.match(body, at) if at >= 0 else None
    if m:
        source = m.group(1) if _ID_RE.match(m.group(1)) else ""
        body = body[: m.start()]
    body = body.strip()
    pinned = default_pinned
    pin = PIN_RE.match(body)
    if pin:
        pinned = True
        body = body[pin.end():]
    if body.startswith("\\"):
        body = body[1:]  # an escaped leading "[", "(", pin or backslash
    text = one_line(body)
    return Fact(text, source, pinned) if text else None


def parse_memory(text: str) -> Memory:
    """Read memory.md text; tolerant of hand edits, never loses user prose.

    Raises ``MemoryFileError`` only for a header naming a newer version."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    version = MEMORY_VERSION
    folded_upto: str | None = None
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None:
        head = _HEADER_RE.match(lines[first].strip())
        if head:
            version = int(head.group(1))
            if version > MEMORY_VERSION:
                raise MemoryFileError(
                    f"memory.md is format v{version}, written by a newer Candlelit; "
                    "it was left untouched"
                )
            upto = _UPTO_RE.search(head.group(2))
            if upto and _ID_RE.match(upto.group(1)):
                folded_upto = upto.group(1)
            lines = lines[first + 1:]

    summary: list[str] = []
    pinned: list[str] = []
    facts: list[Fact] = []
    section = "pinned"  # prose before any heading is the user's own
    for line in lines:
        heading = _HEADING_RE.match(line)
        if heading:
            name = heading.group(2).rstrip(" \t").rstrip("#").strip().rstrip(":").strip().casefold()
            if name in _SECTIONS:
                section = _SECTIONS[name]
                continue
            section = "pinned"  # an unknown heading: keep it and its text as user prose
            pinned.append(line)
            continue
        if section == "summary":
            summary.append(_unescape(line))
        elif section == "pinned":
            pinned.append(_unescape(line))
        else:
            if not line.strip():
                continue
            bullet = BULLET_RE.match(line)
            if not bullet and line[:1] in (" ", "\t") and facts:
                prev = facts[-1]  # an indented continuation of the last fact
                more = _parse_fact(line, prev.pinned)
                if more is not None:
                    facts[-1] = Fact(
                        one_line(f"{prev.text} {more.text}"), prev.source or more.source, prev.pinned
                    )
                continue
            body = (bullet.group(1) or "") if bullet else line
            fact = _parse_fact(body, section == "pinned_facts")
            if fact is not None:
                facts.append(fact)
    return Memory(
        summary="\n".join(summary).strip(),
        pinned_summary="\n".join(pinned).strip(),
        facts=facts,
        folded_upto=folded_upto,
        version=version,
    )


def memory_path(chat_dir: Path) -> Path:
    return as_path(chat_dir) / MEMORY_FILE


def read_text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MemoryFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data.decode("utf-8", errors="replace")


def load_memory(chat_dir: Path) -> Memory:
    """The chat's memory (empty when there is no memory.md yet)."""
    text = read_text(memory_path(chat_dir))
    return parse_memory(text) if text is not None else Memory()


def save_memory(chat_dir: Path, m: Memory) -> None:
    """Write memory.md atomically, mode 0600."""
    path = memory_path(chat_dir)
    try:
        atomic_write(path, render_memory(m))
    except OSError as exc:
        raise MemoryFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def carry_over(m: Memory) -> Memory:
    """Memory for a new chat with the same character (opt-in): summary,
    pinned text and facts kept; nothing of the new chat is folded yet."""
    return Memory(
        summary=m.summary,
        pinned_summary=m.pinned_summary,
        facts=list(m.facts),
        folded_upto=None,
        version=MEMORY_VERSION,
    )


def memory_prompt_text(
    m: Memory,
    budget: int | None = None,
    count: Callable[[str], int] | None = None,
) -> str:
    """The memory as plain text for the prompt ("" when there is none).

    With a token ``budget`` (and ``count``, the model's token counter) the
    text is trimmed to fit: the oldest summary paragraphs go first, then the
    oldest unpinned facts. Pinned text and pinned facts are always kept;
    memory.md itself keeps everything."""
    paragraphs = [" ".join(p.split()) for p in m.summary.split("\n\n") if p.strip()]
    facts = list(m.facts)

    def render() -> str:
        parts = []
        if paragraphs:
            parts.append("Story so far: " + " ".join(paragraphs))
        if m.pinned_summary.strip():
            parts.append(m.pinned_summary.strip())
        if facts:
            parts.append("Facts:\n" + "\n".join(f"- {one_line(f.text)}" for f in facts))
        return "\n\n".join(parts)

    text = render()
    if budget is None or count is None:
        return text
    while text and count(text) > budget:
        if len(paragraphs) > 1 or (paragraphs and not any(not f.pinned for f in facts)):
            paragraphs.pop(0)
        else:
            idx = next((i for i, f in enumerate(facts) if not f.pinned), None)
            if idx is None:
                if not paragraphs:
                    break  # only pinned text is left: never dropped
                paragraphs.pop(0)
            else:
                facts.pop(idx)
        text = render()
    return text


