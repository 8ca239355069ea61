"""Tests for tui.core.config.load: reading config.toml, syntax errors, config_as_dict and replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.core.config.load import ConfigError, config_as_dict, load_config, load_config_text, replace
from tui.core.config.schema import Config

SRC = "/home/a/.config/candlelit/config.toml"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, SRC)
    return info.value


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
