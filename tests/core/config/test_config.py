"""Tests for tui.core.config.settings: typed config loading, error lines, state file."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from tui.core.config.settings import (
    ChatConfig,
    Config,
    ConfigError,
    ModelConfig,
    PromptConfig,
    SamplingConfig,
    config_as_dict,
    load_config,
    load_config_text,
    load_state,
    replace,
    save_state,
    update_state,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"
SRC = "/home/a/.config/candlelit/config.toml"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, SRC)
    return info.value


# ---------------------------------------------------------------- defaults


def test_defaults_match_the_documented_values() -> None:
    cfg = Config()
    assert cfg.model == ModelConfig(
        path="",
        chat_format="auto",
        n_ctx=4096,
        n_gpu_layers=0,
        n_threads=0,
        n_threads_batch=0,
        n_batch=512,
        flash_attn=False,
    )
    assert cfg.sampling == SamplingConfig(
        temperature=0.8, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.1, seed=-1, max_tokens=300
    )
    assert cfg.chat == ChatConfig(profile="default", user_name="User")
    assert cfg.prompt == PromptConfig(system="", reply_reserve=0)


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sampling.temperature = 2.0  # type: ignore[misc]


def test_missing_file_gives_defaults_and_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "config.toml"
    assert load_config(target) == Config()
    assert not (tmp_path / "nowhere").exists()


def test_empty_text_gives_defaults() -> None:
    assert load_config_text("", SRC) == Config()


def test_values_are_read_and_others_keep_defaults(tmp_path: Path) -> None:
    f = tmp_path / "config.toml"
    f.write_text(
        '[model]\npath = "~/models/m.gguf"\nn_gpu_layers = -1\nflash_attn = true\n'
        "[sampling]\nseed = 42\n"
        '[chat]\nprofile = "night_owl-2"\n',
        encoding="utf-8",
    )
    cfg = load_config(f)
    assert cfg.model.path == "~/models/m.gguf"
    assert cfg.model.n_gpu_layers == -1
    assert cfg.model.flash_attn is True
    assert cfg.model.n_ctx == 4096
    assert cfg.sampling.seed == 42
    assert cfg.sampling.temperature == 0.8
    assert cfg.chat.profile == "night_owl-2"


def test_dotted_and_inline_forms_are_accepted() -> None:
    cfg = load_config_text('sampling.top_k = 7\nchat = { user_name = "Robin" }\n', SRC)
    assert cfg.sampling.top_k == 7
    assert cfg.chat.user_name == "Robin"


def test_int_is_accepted_for_float_and_converted() -> None:
    cfg = load_config_text("[sampling]\ntemperature = 1\nrepeat_penalty = 2\n", SRC)
    assert cfg.sampling.temperature == 1.0
    assert type(cfg.sampling.temperature) is float
    assert type(cfg.sampling.repeat_penalty) is float


# ---------------------------------------------------------------- syntax errors


def test_invalid_toml_reports_tomllib_line() -> None:
    text = '[model]\npath = "a.gguf"\n\n[sampling]\ntemperature = 0.7\n\ntop_p 0.9\n'
    err = error_of(text)
    assert err.line == 7
    assert str(err).startswith(f"{SRC}:7: invalid TOML: ")
    assert "(at line" not in str(err)
    assert "\n" not in str(err)


def test_unterminated_string_at_end_of_document_has_a_line() -> None:
    err = error_of('[model]\npath = "x.gguf"\nchat_format = "auto\n')
    assert str(err).startswith(f"{SRC}:3: invalid TOML: ")


def test_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "config.toml"
    f.write_bytes(b'[chat]\nuser_name = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert str(info.value) == f"{f}:2: the file is not valid UTF-8 text"


def test_config_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: ")


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
    assert str(err) == f'{SRC}:2: unknown key "zzz" in [prompt] (known keys: system, reply_reserve, memory_budget, window_budget, volatile_budget)'


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


# ---------------------------------------------------------------- example file


def test_example_file_loads_to_exactly_the_defaults() -> None:
    assert load_config(EXAMPLE) == Config()


def test_example_file_documents_every_field() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    text = EXAMPLE.read_text(encoding="utf-8")
    expected = config_as_dict(Config())
    assert set(data) == set(expected)
    for section, values in expected.items():
        assert set(data[section]) == set(values), section
        for key in values:
            # each key line is preceded by a comment explaining it
            m = re.search(rf"^(.*)\n{re.escape(key)} = ", text, flags=re.MULTILINE)
            assert m is not None and m.group(1).startswith("#"), f"{section}.{key} lacks a comment"


def test_example_file_says_where_it_goes_and_that_it_is_read_only() -> None:
    head = EXAMPLE.read_text(encoding="utf-8").split("[model]")[0]
    assert "$CANDLELIT_CONFIG" in head
    assert "~/.config/candlelit/config.toml" in head
    assert "never writes" in head


# ---------------------------------------------------------------- as_dict and replace


def test_config_as_dict_round_trips_through_toml() -> None:
    import tomli_w

    d = config_as_dict(Config())
    assert d["sampling"]["temperature"] == 0.8
    assert d["model"]["flash_attn"] is False
    assert load_config_text(tomli_w.dumps(d), SRC) == Config()


def test_replace_returns_a_new_validated_config() -> None:
    cfg = Config()
    new = replace(cfg, model={"path": "x.gguf"}, sampling={"temperature": 1})
    assert new.model.path == "x.gguf"
    assert new.model.n_ctx == 4096
    assert new.sampling.temperature == 1.0 and type(new.sampling.temperature) is float
    assert cfg.model.path == ""  # original untouched
    assert new.chat is cfg.chat


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": {"n_ctx": 10}}, "[model] n_ctx must be at least 256, got 10"),
        ({"model": {"pth": "x"}}, 'unknown key "pth" in [model] (did you mean "path"?)'),
        ({"modle": {"path": "x"}}, "unknown section [modle] (did you mean [model]?)"),
        ({"model": {"n_ctx": True}}, "[model] n_ctx must be a whole number, got true"),
    ],
)
def test_replace_rejects_bad_overrides(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        replace(Config(), **kwargs)
    assert str(info.value) == message


# ---------------------------------------------------------------- state file


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "home" / "state.toml"
    state = {"last_profile": "default", "window": {"width": 120}, "recent": ["a", "b"]}
    save_state(path, state)
    assert load_state(path) == state


def test_state_file_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = home / "state.toml"
    save_state(path, {"a": 1})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    update_state(path, b=2)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert load_state(tmp_path / "state.toml") == {}


@pytest.mark.parametrize("payload", [b"this = is = not toml\n", b"\xff\xfe\x00garbage", b"[a]\nb = \n"])
def test_corrupt_state_is_empty_and_gets_rewritten(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "state.toml"
    path.write_bytes(payload)
    assert load_state(path) == {}
    assert update_state(path, last_profile="p1") == {"last_profile": "p1"}
    assert load_state(path) == {"last_profile": "p1"}


def test_update_state_merges_and_none_removes(tmp_path: Path) -> None:
    path = tmp_path / "state.toml"
    update_state(path, a=1, b="two")
    assert update_state(path, b=None, c=True) == {"a": 1, "c": True}
    assert load_state(path) == {"a": 1, "c": True}


def test_state_never_touches_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[sampling]\nseed = 3\n", encoding="utf-8")
    before = config.read_bytes()
    update_state(tmp_path / "state.toml", seed=99)
    assert config.read_bytes() == before
    assert load_config(config).sampling.seed == 3
