"""Tests for tui.core.config.schema: the defaults, and config.example.toml mirroring them."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from tui.core.config.load import config_as_dict, load_config
from tui.core.config.schema import ChatConfig, Config, ModelConfig, PromptConfig, SamplingConfig

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"


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
