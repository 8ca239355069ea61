"""Chat formats: turn a list of prompt messages into ONE prompt string.

We tokenize the rendered text ourselves (with special-token parsing on), so
every format here produces plain text that already contains its turn markers.

Three families:

- ``transcript``: for base models. System text as plain paragraphs, then one
  ``Name: text`` line per message, and the generation prompt ``Name:``.
- presets (``chatml``, ``llama3``, ``mistral``, ``gemma``, ``alpaca``): the
  well-known instruct layouts, written out here.
- ``embedded``: the GGUF's own Jinja chat template, rendered in a sandbox.

Conventions shared by all of them:

- A chat message's content is written as ``Name: text`` (so scenes with
  several characters stay clear); system messages carry no name.
- The generation prompt ends with ``Name:`` and **no trailing space**.
  Tokenizers attach the space to the following word (``" Hello"`` is one
  token), so a prompt ending in a space forces an unusual split and hurts the
  reply; the model writes ``" text"`` itself. The reply is later stored as
  ``text`` and rendered back as ``Name: text``, so the generation prompt is an
  exact prefix of the next render and the KV cache keeps it.
- Presets and transcript are **prefix-stable**: rendering ``messages[:k]``
  without a generation prompt is a string prefix of rendering
  ``messages[:k+1]``. To get there while merging consecutive messages of the
  same side into one turn (several formats need strictly alternating turns),
  a preset leaves the last turn *open*: its end marker is written when the
  next turn starts or when the generation prompt is added.
"""

from __future__ import annotations

from tui.core.errors import CandlelitError
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ROLES = ("system", "user", "assistant")
REPLY_ROLES = ("user", "assistant")
PRESETS: tuple[str, ...] = ("chatml", "llama3", "mistral", "gemma", "alpaca")
FORMAT_NAMES: tuple[str, ...] = ("transcript", "embedded", *PRESETS)
AUTO = "auto"

#: What ``strftime_now`` returns to templates, formatted as they ask. A real
#: clock would change the rendered prompt from one day (or minute) to the next,
#: which breaks KV-cache reuse of the prompt prefix and makes renders
#: non-deterministic; a roleplay has no use for the host's date anyway.
FIXED_DATE = datetime(2025, 1, 1, 12, 0, 0)

#: Joins consecutive messages of the same side inside one turn.
_JOINER = "\n\n"

_DEFAULT_NAMES = {"user": "User", "assistant": "Assistant"}


class FormatError(CandlelitError):
    """A chat format cannot be used; the message is one clear line for the user."""


@dataclass(frozen=True)
class PromptMessage:
    """One message of a prompt."""

    role: str  # "system" | "user" | "assistant"
    name: str  # speaker display name ("" for system)
    content: str


class ChatFormat(Protocol):
    """How a list of messages becomes one prompt string."""

    name: str
    add_bos: bool

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        """Full prompt text, ending with the reply prefix when ``reply_name`` is set."""
        ...

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        """End-of-turn markers plus ``"\\n{other}:"`` for every other participant."""
        ...


# --------------------------------------------------------------------------- helpers


def _clean_name(name: str) -> str:
    """A display name on one line, without surrounding space."""
    return " ".join(name.split())


def _check_role(role: str, allowed: tuple[str, ...] = ROLES) -> None:
    if role not in allowed:
        raise FormatError(
            f"unknown message role {role!r}; expected one of: {', '.join(allowed)}"
        )


def _body(message: PromptMessage) -> str:
    """The text of a message inside a turn: ``Name: text`` (system: just text)."""
    _check_role(message.role)
    content = message.content.strip()
    name = _clean_name(message.name)
    if message.role == "system" or not name or not content:
        return content
    return f"{name}: {content}"


def _reply_prefix(reply_name: str) -> str:
    name = _clean_name(reply_name)
    return f"{name}:" if name else ""


def _name_stops(reply_name: str, other_names: Iterable[str]) -> list[str]:
    me = _clean_name(reply_name)
    stops: list[str] = []
    for other in other_names:
        name = _clean_name(other)
        if name and name != me:
            stops.append(f"\n{name}:")
    return stops


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


# --------------------------------------------------------------------------- transcript


class TranscriptFormat:
    """Plain text for base models: paragraphs, then ``Name: text`` lines.

    The generation prompt is ``Name:`` without a trailing space (see the module
    docstring). A system message after chat lines is set off by a blank line.
    A chat message without a name is labelled ``User`` / ``Assistant``.
    """

    name = "transcript"
    add_bos = True

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        _check_role(reply_role, REPLY_ROLES)
        parts: list[str] = []
        after_line = False  # the last thing written was a chat line
        for message in messages:
            _check_role(message.role)
            content = message.content.strip()
            if not content:
                continue
            if message.role == "system":
                parts.append(("\n" if after_line else "") + content + "\n\n")
                after_line = False
            else:
                name = _clean_name(message.name) or _DEFAULT_NAMES[message.role]
                parts.append(f"{name}: {content}\n")
                after_line = True
        if reply_name is not None:
            name = _clean_name(reply_name) or _DEFAULT_NAMES[reply_role]
            parts.append(f"{name}:")
        return "".join(parts)

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return _dedupe(_name_stops(reply_name, other_names))


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class _TurnStyle:
    """The markers of one turn-based layout."""

    start: str  # written once at the very beginning
    kinds: Mapping[str, str]  # message role -> turn kind (gemma: assistant -> model)
    opens: Mapping[str, str]  # turn kind -> text that opens a turn
    closes: Mapping[str, str]  # turn kind -> text that ends a turn
    stops: tuple[str, ...]  # end-of-turn marker strings
    add_bos: bool


def _same_kinds() -> dict[str, str]:
    return {role: role for role in ROLES}


_STYLES: dict[str, _TurnStyle] = {
    "chatml": _TurnStyle(
        start="",
        kinds=_same_kinds(),
        opens={k: f"<|im_start|>{k}\n" for k in ROLES},
        closes={k: "<|im_end|>\n" for k in ROLES},
        stops=("<|im_end|>", "<|im_start|>"),
        add_bos=True,
    ),
    "llama3": _TurnStyle(
        start="<|begin_of_text|>",
        kinds=_same_kinds(),
        opens={k: f"<|start_header_id|>{k}<|end_header_id|>\n\n" for k in ROLES},
        closes={k: "<|eot_id|>" for k in ROLES},
        stops=("<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>"),
        add_bos=False,
    ),
    # Mistral has no system role: system text joins the user turn it sits in
    # (usually the first), which keeps the layout prefix-stable.
    "mistral": _TurnStyle(
        start="",
        kinds={"system": "user", "user": "user", "assistant": "assistant"},
        opens={"user": "[INST] ", "assistant": " "},
        closes={"user": " [/INST]", "assistant": "</s>"},
        stops=("</s>", "[INST]", "[/INST]"),
        add_bos=True,
    ),
    # Gemma has no system role either, and calls the assistant "model".
    "gemma": _TurnStyle(
        start="",
        kinds={"system": "user", "user": "user", "assistant": "model"},
        opens={k: f"<start_of_turn>{k}\n" for k in ("user", "model")},
        closes={k: "<end_of_turn>\n" for k in ("user", "model")},
        stops=("<end_of_turn>", "<start_of_turn>"),
        add_bos=True,
    ),
    "alpaca": _TurnStyle(
        start="",
        kinds=_same_kinds(),
        opens={
            "system": "",
            "user": "### Instruction:\n",
            "assistant": "### Response:\n",
        },
        closes={k: "\n\n" for k in ROLES},
        stops=("### Instruction:", "### Response:"),
        add_bos=True,
    ),
}


class PresetFormat:
    """A turn-based instruct layout written out by us (chatml, llama3, ...).

    Consecutive messages that land in the same kind of turn are merged into
    one turn, joined by a blank line. The last turn is left open when there is
    no generation prompt (see the module docstring), so renders stay
    prefix-stable. The generation prompt continues the open turn when the
    reply belongs to the same side, else closes it and opens the reply's turn.
    """

    def __init__(self, name: str, style: _TurnStyle) -> None:
        self.name = name
        self.add_bos = style.add_bos
        self._style = style

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        _check_role(reply_role, REPLY_ROLES)
        style = self._style
        parts = [style.start]
        open_kind: str | None = None

        def add(kind: str, text: str) -> None:
            nonlocal open_kind
            if kind == open_kind:
                parts.append(_JOINER + text)
                return
            if open_kind is not None:
                parts.append(style.closes[open_kind])
            parts.append(style.opens[kind] + text)
            open_kind = kind

        for message in messages:
            body = _body(message)
            if body:
                add(style.kinds[message.role], body)
        if reply_name is not None:
            add(style.kinds[reply_role], _reply_prefix(reply_name))
        return "".join(parts)

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        return _dedupe([*self._style.stops, *_name_stops(reply_name, other_names)])


# --------------------------------------------------------------------------- embedded

#: Turn-end markers that, when a template spells them out, also end a reply
#: (a GGUF's eos token is not always the end-of-turn token).
_KNOWN_TURN_ENDS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "<|END_OF_TURN_TOKEN|>",
)

#: Marks where a continued message ends, so the text after it can be cut off.
_CUT = "\ue000candlelit-reply-cut\ue000"

_MAX_REPEAT = 1_000_000  # longest str/list a template may build with ``*``
_MAX_EXPONENT = 1024  # largest integer exponent a template may use with ``**``


class _TemplateRaised(Exception):
    """The template called ``raise_exception``."""


def _raise_exception(message: Any = "") -> None:
    raise _TemplateRaised(str(message))


def _strftime_now(fmt: str) -> str:
    return FIXED_DATE.strftime(str(fmt))


def _tojson(
    value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False
) -> str:
    # Like json.dumps, not Jinja's HTML-escaping tojson: templates emit JSON for
    # the model to read, not for a web page.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


def _one_line(text: str) -> str:
    """An exception's text on one line, without a trailing full stop."""
    return " ".join(str(text).split()).rstrip(".")


def _make_environment() -> Any:
    """A sandbox like the one HF transformers renders chat templates in."""
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class GenerationTag(Extension):
        """``{% generation %}...{% endgeneration %}`` (HF's training marker): just the body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> list[nodes.Node]:
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    class TemplateEnvironment(ImmutableSandboxedEnvironment):
        """The immutable sandbox, plus limits on ``*`` and ``**`` blow-ups."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    if (
                        isinstance(seq, (str, list, tuple))
                        and isinstance(count, int)
                        and len(seq) * count > _MAX_REPEAT
                    ):
                        raise SecurityError("a repeated string or list would be too long")
            elif operator == "**":
                if (
                    isinstance(left, int)
                    and isinstance(right, int)
                    and abs(left) > 1
                    and abs(right) > _MAX_EXPONENT
                ):
                    raise SecurityError("an exponent is too large")
            return super().call_binop(context, operator, left, right)

    env = TemplateEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", GenerationTag],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _merge(dicts: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive messages with the same role (templates want alternation)."""
    out: list[dict[str, str]] = []
    for d in dicts:
        if out and out[-1]["role"] == d["role"]:
            out[-1] = {"role": d["role"], "content": out[-1]["content"] + _JOINER + d["content"]}
        else:
            out.append(dict(d))
    return out


def _fold_system(d: dict[str, str]) -> dict[str, str]:
    return {"role": "user", "content": d["content"]} if d["role"] == "system" else d


def _variants(dicts: list[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    """The conversation as is, then reshaped for stricter templates.

    1. as is (already merged);
    2. a leading system message kept, later ones folded into user turns;
    3. every system message folded into the user turn around it;
    4. if the conversation then opens with the assistant, an empty user turn first.
    """
    yield dicts
    folded = dicts
    if any(d["role"] == "system" for d in dicts):
        if dicts[0]["role"] == "system" and any(d["role"] == "system" for d in dicts[1:]):
            yield _merge([dicts[0], *map(_fold_system, dicts[1:])])
        folded = _merge(map(_fold_system, dicts))
        yield folded
    if folded and folded[0]["role"] == "assistant":
        yield [{"role": "user", "content": ""}, *folded]


class EmbeddedFormat:
    """The model's own Jinja chat template, rendered in a sandbox.

    Messages are passed as ``{"role", "content"}`` dicts with the speaker name
    folded into the content (``Name: text``), consecutive same-role messages
    merged. When the template rejects the conversation, it is retried with
    system text folded into user turns (see ``_variants``). The reply prefix is
    rendered as a final message ``Name:`` (joined to the last message when the
    same role speaks again) and the text after it is cut off; if the template
    refuses that, a new assistant turn falls back to the template's
    generation prompt (``add_generation_prompt=True``) followed by ``Name:``.

    Template errors, ``raise_exception`` calls and sandbox violations become
    :class:`FormatError`. The sandbox stops attribute escapes and code
    execution; it does not bound the CPU time of a hostile template.
    """

    name = "embedded"

    def __init__(self, chat_template: str, bos_token: str = "", eos_token: str = "") -> None:
        from jinja2 import TemplateSyntaxError

        self._source = chat_template
        self._bos = bos_token
        self._eos = eos_token
        try:
            self._template = _make_environment().from_string(chat_template)
        except TemplateSyntaxError as exc:
            raise FormatError(
                f"the model's chat template has a syntax error (line {exc.lineno}): "
                f"{_one_line(exc.message or '')}; pick another chat format"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - anything else a template parse may raise
            raise FormatError(
                f"the model's chat template could not be loaded: {_one_line(str(exc))}"
            ) from exc
        # Fails early (with the template's own reason) on a template that cannot
        # render even a tiny conversation, and tells whether it writes BOS.
        probe = self.render(
            [
                PromptMessage("system", "", "You are a helpful narrator."),
                PromptMessage("user", "", "Hello."),
            ],
            reply_name="",
        )
        self.add_bos = not (bos_token and probe.startswith(bos_token))

    def _run(self, dicts: list[dict[str, str]], add_generation_prompt: bool) -> str:
        from jinja2.sandbox import SecurityError

        hint = "; pick another chat format"
        try:
            return self._template.render(
                messages=[dict(d) for d in dicts],
                bos_token=self._bos,
                eos_token=self._eos,
                add_generation_prompt=add_generation_prompt,
            )
        except _TemplateRaised as exc:
            raise FormatError(
                f"the model's chat template rejected the conversation: {_one_line(str(exc))}{hint}"
            ) from exc
        except SecurityError as exc:
            raise FormatError(
                "the model's chat template tried an unsafe operation and was stopped: "
                f"{_one_line(str(exc))}{hint}"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - a template can raise anything
            raise FormatError(
                f"the model's chat template failed: {type(exc).__name__}: "
                f"{_one_line(str(exc))}{hint}"
            ) from exc

    def _run_variants(self, dicts: list[dict[str, str]], add_generation_prompt: bool) -> str:
        error: FormatError | None = None
        for variant in _variants(dicts):
            try:
                return self._run(variant, add_generation_prompt)
            except FormatError as exc:
                error = error or exc
        assert error is not None
        raise error

    def render(
        self,
        messages: Sequence[PromptMessage],
        reply_name: str | None,
        reply_role: str = "assistant",
    ) -> str:
        _check_role(reply_role, REPLY_ROLES)
        dicts = _merge(
            {"role": m.role, "content": body} for m in messages if (body := _body(m))
        )
        if reply_name is None:
            return self._run_variants(dicts, add_generation_prompt=False)
        # Render the reply as a final message "Name:" and cut what follows it:
        # this keeps the template's own spacing (e.g. Mistral's " " after
        # [/INST]) and makes this prompt a prefix of the render that later
        # holds the finished reply.
        stub = {"role": reply_role, "content": _reply_prefix(reply_name) + _CUT}
        try:
            text = self._run_variants(_merge([*dicts, stub]), add_generation_prompt=False)
        except FormatError as exc:
            problem = exc
        else:
            cut = text.rfind(_CUT)
            if cut >= 0:
                return text[:cut]
            problem = FormatError(
                f"the model's chat template drops the last message, so it cannot prompt "
                f"a {reply_role} reply here; pick another chat format"
            )
        # Fallback for a new assistant turn: the template's generation prompt.
        if reply_role == "assistant" and (not dicts or dicts[-1]["role"] != "assistant"):
            return self._run_variants(dicts, add_generation_prompt=True) + _reply_prefix(
                reply_name
            )
        raise problem

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        markers = [m for m in _KNOWN_TURN_ENDS if m in self._source]
        return _dedupe([self._eos, *markers, *_name_stops(reply_name, other_names)])


# --------------------------------------------------------------------------- choosing


def _normalize(name: str) -> str:
    return name.strip().lower()


def _unknown(name: str, valid: Sequence[str]) -> FormatError:
    return FormatError(f"unknown chat format {name!r}; choose one of: {', '.join(valid)}")


def get_format(
    name: str,
    *,
    chat_template: str | None = None,
    bos_token: str = "",
    eos_token: str = "",
) -> ChatFormat:
    """The chat format called ``name`` (``auto`` must go through :func:`choose_format`)."""
    key = _normalize(name)
    if key == "transcript":
        return TranscriptFormat()
    if key in _STYLES:
        return PresetFormat(key, _STYLES[key])
    if key == "embedded":
        if not chat_template or not chat_template.strip():
            raise FormatError(
                "chat format 'embedded' needs the model's chat template, "
                "but this model has none; pick another chat format"
            )
        return EmbeddedFormat(chat_template, bos_token=bos_token, eos_token=eos_token)
    raise _unknown(name, FORMAT_NAMES)


def choose_format(configured: str, *, chat_template: str | None, is_default_model: bool) -> str:
    """Resolve the configured chat format name to a concrete one.

    ``auto``: the bundled default model (a small base model) gets
    ``transcript``; another model gets ``embedded`` when its GGUF carries a
    chat template, else ``transcript``. Any other name is validated and
    returned (lower-cased).
    """
    key = _normalize(configured)
    has_template = bool(chat_template and chat_template.strip())
    if key == AUTO:
        if is_default_model:
            return "transcript"
        return "embedded" if has_template else "transcript"
    if key not in FORMAT_NAMES:
        raise _unknown(configured, (AUTO, *FORMAT_NAMES))
    if key == "embedded" and not has_template:
        raise FormatError(
            "chat format 'embedded' needs the model's chat template, "
            "but this model has none; pick another chat format"
        )
    return key
