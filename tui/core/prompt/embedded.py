"""``embedded``: the GGUF's own Jinja chat template, rendered in a sandbox."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from tui.core.prompt.chat_format import (
    JOINER,
    REPLY_ROLES,
    FormatError,
    PromptMessage,
    check_role,
    dedupe,
    message_body,
    name_stops,
    reply_prefix,
)

#: What ``strftime_now`` returns to templates, formatted as they ask. A real
#: clock would change the rendered prompt from one day (or minute) to the next,
#: which breaks KV-cache reuse of the prompt prefix and makes renders
#: non-deterministic; a roleplay has no use for the host's date anyway.
FIXED_DATE = datetime(2025, 1, 1, 12, 0, 0)

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
# Longest text a template may build or output, in characters: room for a whole
# 128k-token context, far from what exhausts memory. Every way a template can
# grow text (``~``, ``+``, ``%``, format widths, string methods, filters, the
# output itself) is checked against it before or as it happens.
_MAX_TEXT = 8_000_000
_WIDE_FORMAT = re.compile(r"\d{7,}")  # a width or precision of a million or more


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
    from jinja2.compiler import CodeGenerator
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class GenerationTag(Extension):
        """``{% generation %}...{% endgeneration %}`` (HF's training marker): just the body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> list[nodes.Node]:
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    def too_long(what: str) -> SecurityError:
        return SecurityError(f"{what} would be too long (more than {_MAX_TEXT:,} characters)")

    def bounded(value: Any) -> Any:
        if isinstance(value, (str, list, tuple)) and len(value) > _MAX_TEXT:
            raise too_long("a text or list")
        return value

    def check_ints(values: Iterable[Any]) -> None:
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and v > _MAX_TEXT:
                raise SecurityError("a number given to a string operation is too large")

    class BoundedCodeGenerator(CodeGenerator):
        """``a ~ b`` builds its text through ``environment.bounded``."""

        def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
            self.write("environment.bounded(")
            super().visit_Concat(node, frame)
            self.write(")")

    def bounded_join(pieces: Iterable[Any]) -> str:
        out: list[str] = []
        size = 0
        for piece in pieces:
            text = str(piece)
            size += len(text)
            if size > _MAX_TEXT:
                raise too_long("the rendered prompt")
            out.append(text)
        return "".join(out)

    def bounded_filter(f: Any) -> Any:
        skip = 2 if getattr(f, "jinja_pass_arg", None) is not None else 1

        @functools.wraps(f)
        def run(*args: Any, **kwargs: Any) -> Any:
            check_ints(args[skip:])
            check_ints(kwargs.values())
            return bounded(f(*args, **kwargs))

        return run

    class TemplateEnvironment(ImmutableSandboxedEnvironment):
        """The immutable sandbox, plus limits on what can blow up: ``*``
        and ``**``, and the length of every text a template builds."""

        intercepted_binops = frozenset({"*", "**", "+", "%"})
        code_generator_class = BoundedCodeGenerator
        concat = staticmethod(bounded_join)

        def bounded(self, value: Any) -> Any:
            return bounded(value)

        def wrap_str_format(self, value: Any) -> Any:
            owner = getattr(value, "__self__", None)
            if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
                if _WIDE_FORMAT.search(owner):
                    raise too_long("a formatted text")
            return super().wrap_str_format(value)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            owner = getattr(__obj, "__self__", None)
            if isinstance(owner, str):
                check_ints(args)
                check_ints(kwargs.values())
                name = getattr(__obj, "__name__", "")
                if name in ("format", "format_map") and _WIDE_FORMAT.search(owner):
                    raise too_long("a formatted text")
                if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                    hits = owner.count(args[0]) if args[0] else len(owner) + 1
                    if len(owner) + hits * max(0, len(args[1]) - len(args[0])) > _MAX_TEXT:
                        raise too_long("a replaced text")
                if name == "join" and args and isinstance(args[0], (list, tuple)):
                    parts = args[0]
                    size = len(owner) * max(0, len(parts) - 1) + sum(len(str(x)) for x in parts)
                    if size > _MAX_TEXT:
                        raise too_long("a joined text")
            return bounded(super().call(__context, __obj, *args, **kwargs))

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "+":
                if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                    if len(left) + len(right) > _MAX_TEXT:
                        raise too_long("a joined text or list")
            elif operator == "%" and isinstance(left, str):
                args = right if isinstance(right, tuple) else (right,)
                if _WIDE_FORMAT.search(left) or ("*" in left and any(
                    isinstance(a, int) and a > _MAX_TEXT for a in args
                )):
                    raise too_long("a formatted text")
                return bounded(super().call_binop(context, operator, left, right))
            elif operator == "*":
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
    for name, f in list(env.filters.items()):
        env.filters[name] = bounded_filter(f)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def _merge(dicts: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive messages with the same role (templates want alternation)."""
    out: list[dict[str, str]] = []
    for d in dicts:
        if out and out[-1]["role"] == d["role"]:
            out[-1] = {"role": d["role"], "content": out[-1]["content"] + JOINER + d["content"]}
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
        except Exception as exc:
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
        except Exception as exc:
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
        check_role(reply_role, REPLY_ROLES)
        dicts = _merge(
            {"role": m.role, "content": body} for m in messages if (body := message_body(m))
        )
        if reply_name is None:
            return self._run_variants(dicts, add_generation_prompt=False)
        # Render the reply as a final message "Name:" and cut what follows it:
        # this keeps the template's own spacing (e.g. Mistral's " " after
        # [/INST]) and makes this prompt a prefix of the render that later
        # holds the finished reply.
        stub = {"role": reply_role, "content": reply_prefix(reply_name) + _CUT}
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
            return self._run_variants(dicts, add_generation_prompt=True) + reply_prefix(
                reply_name
            )
        raise problem

    def stop_strings(self, reply_name: str, other_names: Iterable[str]) -> list[str]:
        markers = [m for m in _KNOWN_TURN_ENDS if m in self._source]
        return dedupe([self._eos, *markers, *name_stops(reply_name, other_names)])
