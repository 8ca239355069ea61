"""Tests for tui.core.config.validate: semantic errors, their messages and lines."""

from __future__ import annotations

import pytest

from tui.core.config.load import ConfigError, load_config_text

SRC = "/home/a/.config/candlelit/config.toml"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, SRC)
    return info.value


# ---------------------------------------------------------------- semantic errors and their lines


def test_wrong_type_message_names_file_line_and_problem() -> None:
    text = "# my settings\n\n[model]\nn_ctx = 8192\n\n[sampling]\ntop_k = 20\ntemperature = \"hot\"\n"
    err = error_of(text)
    assert str(err) == f'{SRC}:8: [sampling] temperature must be a number, got "hot"'
    assert (err.source, err.line) == (SRC, 8)


def test_unknown_key_with_did_you_mean() -> None:
    text = "[model]\nn_ctx = 2048\n\n[sampling]\n# warmer\ntemprature = 1.2\n"
    err = error_of(text)
    assert str(err) == f'{SRC}:6: unknown key "temprature" in [sampling] (did you mean "temperature"?)'


def test_unknown_key_from_another_section_says_where_it_belongs() -> None:
    err = error_of("[chat]\nprofile = \"x\"\nmax_tokens = 10\n")
    assert str(err) == f'{SRC}:3: unknown key "max_tokens" in [chat] (it belongs in [sampling])'


def test_unknown_key_without_a_close_match_lists_known_keys() -> None:
    err = error_of("[prompt]\nzzz = 1\n")
    assert str(err) == (
        f'{SRC}:2: unknown key "zzz" in [prompt] '
        "(known keys: system, reply_reserve, memory_budget, window_budget, volatile_budget)"
    )


def test_unknown_section_with_did_you_mean() -> None:
    err = error_of('[model]\npath = ""\n\n[samplin]\nseed = 1\n')
    assert str(err) == f"{SRC}:4: unknown section [samplin] (did you mean [sampling]?)"


def test_top_level_key_is_pointed_to_its_section() -> None:
    err = error_of("\n\ntemperature = 0.5\n")
    assert str(err) == f'{SRC}:3: unknown top-level key "temperature" (put it under [sampling])'


def test_section_that_is_not_a_table() -> None:
    err = error_of('# x\nmodel = "big.gguf"\n')
    assert err.line == 2
    assert "[model] must be a table" in str(err)


def test_nested_table_inside_a_section_is_an_unknown_key() -> None:
    err = error_of('[model]\npath = ""\n\n[model.extras]\nfoo = 1\n')
    assert err.line == 4
    assert 'unknown key "extras" in [model]' in str(err)


@pytest.mark.parametrize(
    "text",
    [
        "[model]\nn_ctx = true\n",
        "[model]\nn_gpu_layers = false\n",
        "[sampling]\nseed = true\n",
    ],
)
def test_bool_is_not_an_int(text: str) -> None:
    err = error_of(text)
    assert err.line == 2
    assert "must be a whole number, got " in str(err)
    assert str(err).endswith(("got true", "got false"))


def test_bool_is_not_a_float_and_float_is_not_an_int() -> None:
    assert "temperature must be a number, got true" in str(error_of("[sampling]\ntemperature = true\n"))
    assert "max_tokens must be a whole number, got 300.0" in str(error_of("[sampling]\nmax_tokens = 300.0\n"))


def test_int_is_not_a_bool_and_number_is_not_a_string() -> None:
    assert "flash_attn must be true or false, got 1" in str(error_of("[model]\nflash_attn = 1\n"))
    assert "path must be a string, got 5" in str(error_of("[model]\npath = 5\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model]\nn_ctx = 255\n", "[model] n_ctx must be at least 256, got 255"),
        ("[model]\nn_gpu_layers = -2\n", "[model] n_gpu_layers must be at least -1, got -2"),
        ("[model]\nn_threads = -1\n", "[model] n_threads must be at least 0, got -1"),
        ("[model]\nn_batch = 0\n", "[model] n_batch must be at least 1, got 0"),
        ("[sampling]\ntemperature = -0.1\n", "[sampling] temperature must be at least 0, got -0.1"),
        ("[sampling]\ntop_p = 0\n", "[sampling] top_p must be greater than 0 and at most 1, got 0"),
        ("[sampling]\ntop_p = 1.5\n", "[sampling] top_p must be greater than 0 and at most 1, got 1.5"),
        ("[sampling]\nmin_p = 1.01\n", "[sampling] min_p must be at least 0 and at most 1, got 1.01"),
        ("[sampling]\nrepeat_penalty = 0\n", "[sampling] repeat_penalty must be greater than 0, got 0"),
        ("[sampling]\nmax_tokens = 0\n", "[sampling] max_tokens must be at least 1, got 0"),
        ("[sampling]\nseed = -5\n", "[sampling] seed must be at least -1 and at most 4294967295, got -5"),
        ("[prompt]\nreply_reserve = -1\n", "[prompt] reply_reserve must be at least 0, got -1"),
        ("[sampling]\ntemperature = nan\n", "[sampling] temperature must be a finite number, got nan"),
    ],
)
def test_range_checks(text: str, message: str) -> None:
    assert str(error_of(text)) == f"{SRC}:2: {message}"


def test_range_edges_are_inclusive_where_documented() -> None:
    cfg = load_config_text(
        "[model]\nn_ctx = 256\nn_gpu_layers = -1\n"
        "[sampling]\ntemperature = 0\ntop_p = 1\ntop_k = 0\nmin_p = 0\nseed = 4294967295\n",
        SRC,
    )
    assert (cfg.model.n_ctx, cfg.model.n_gpu_layers) == (256, -1)
    assert (cfg.sampling.temperature, cfg.sampling.top_p, cfg.sampling.min_p) == (0.0, 1.0, 0.0)
    assert cfg.sampling.seed == 4294967295


def test_chat_format_choices_and_suggestion() -> None:
    err = error_of('[model]\nchat_format = "chat_ml"\n')
    assert err.line == 2
    assert '[model] chat_format must be one of "auto", ' in str(err)
    assert str(err).endswith('got "chat_ml" (did you mean "chatml"?)')
    assert load_config_text('[model]\nchat_format = "llama3"\n', SRC).model.chat_format == "llama3"


@pytest.mark.parametrize("name", ["", "my profile", "../etc", "a/b"])
def test_profile_name_must_be_a_safe_folder_name(name: str) -> None:
    err = error_of(f'[chat]\nprofile = "{name}"\n')
    assert err.line == 2
    assert "[chat] profile must be non-empty and use only letters, digits, - and _" in str(err)


def test_blank_or_multiline_user_name_is_rejected() -> None:
    assert str(error_of('[chat]\nuser_name = "   "\n')) == f"{SRC}:2: [chat] user_name must not be empty"
    err = error_of('[chat]\nuser_name = "Ann\\nBee"\n')
    assert str(err) == f'{SRC}:2: [chat] user_name must be on one line, got "Ann\\nBee"'
