"""Tests for tui.core.config.locate: the line of an offending key, through load_config_text."""

from __future__ import annotations

import tomllib

import pytest

from tui.core.config.load import ConfigError, load_config_text

SRC = "/home/a/.config/candlelit/config.toml"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, SRC)
    return info.value


# ---------------------------------------------------------------- the line scanner


def test_line_of_quoted_key() -> None:
    err = error_of('[sampling]\n"top_k" = -3\n')
    assert err.line == 2


def test_line_of_dotted_top_level_key() -> None:
    text = '# header\n\nmodel.path = ""\nsampling.temperature = "warm"\n'
    assert error_of(text).line == 4


def test_line_of_key_inside_inline_table() -> None:
    text = 'chat = { user_name = "A" }\n\nsampling = { top_k = 1, "min_p" = 3 }\n'
    err = error_of(text)
    assert err.line == 3
    assert "min_p must be at least 0 and at most 1, got 3" in str(err)


def test_multiline_string_that_looks_like_toml_does_not_confuse_the_scanner() -> None:
    text = (
        "[prompt]\n"
        'system = """\n'
        "You narrate a calm evening.\n"
        "[sampling]\n"
        "temperature = 9\n"
        '"""\n'
        "reply_reserve = -4\n"
        "[sampling]\n"
        "temperature = -1\n"
    )
    err = error_of(text)
    assert "[prompt] reply_reserve must be at least 0" in str(err)
    assert err.line == 7


def test_literal_multiline_string_and_arrays_spanning_lines() -> None:
    text = (
        "[prompt]\n"
        "system = '''\n"
        "a 'quoted' [line]\n"
        "'''\n"
        "[model]\n"
        "path = 'C:\\models\\m.gguf' # comment with = sign\n"
        "n_ctx = 12\n"
    )
    err = error_of(text)
    assert err.line == 7
    assert "n_ctx must be at least 256, got 12" in str(err)


def test_array_spanning_lines_before_the_bad_key() -> None:
    text = '[chat]\nprofile = [\n  "a",\n  "b", # note\n]\n'
    err = error_of(text)
    assert err.line == 2
    assert "[chat] profile must be a string, got an array" in str(err)


def test_scanner_walks_past_a_multiline_array_with_tricky_strings() -> None:
    # [sampling] is validated before [chat], so the scanner has to get past
    # the array (with "]", "#" and "=" inside its strings) to find line 7.
    text = (
        "sampling.top_k = 1\n"
        "chat.profile = [\n"
        '  "a ] b",\n'
        "  'c # d', # real comment\n"
        '  "e = f",\n'
        "]\n"
        'sampling.seed = "x"\n'
    )
    err = error_of(text)
    assert str(err) == f'{SRC}:7: [sampling] seed must be a whole number, got "x"'


def test_escaped_quotes_inside_a_basic_string() -> None:
    text = '[prompt]\nsystem = "q\\" \\"\\"\\" # not a comment"\nreply_reserve = -1\n'
    assert tomllib.loads(text.replace("-1", "1"))["prompt"]["system"] == 'q" """ # not a comment'
    assert error_of(text).line == 3


def test_escaped_quotes_and_extra_quotes_in_multiline_strings() -> None:
    # The string's text contains '"""' (escaped) and a key-like line; the
    # scanner must not end the string early and report line 3.
    text = (
        "[prompt]\n"
        'system = """one \\"""\n'
        "reply_reserve = 5\n"
        'three "quoted"""""\n'
        "reply_reserve = -1\n"
    )
    system = tomllib.loads(text.replace("-1", "1"))["prompt"]["system"]
    assert system == 'one """\nreply_reserve = 5\nthree "quoted""'
    assert error_of(text).line == 5


def test_error_in_later_section_of_a_dotted_header() -> None:
    text = '[model]\npath = ""\n["sampling"]\n\n\nseed = "x"\n'
    assert error_of(text).line == 6


def test_crlf_line_endings_keep_line_numbers() -> None:
    text = "[model]\r\nn_ctx = 4096\r\n\r\n[sampling]\r\ntop_k = -1\r\n"
    assert error_of(text).line == 5


def test_error_message_is_one_line_even_for_odd_values() -> None:
    err = error_of('[chat]\nprofile = "line one\\nline two"\n')
    assert "\n" not in str(err)
    assert err.line == 2
