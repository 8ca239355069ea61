"""Tests for the pure-Python GGUF header reader, on synthetic files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tui.core.engine.gguf import ModelFileError, read_gguf

TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"


# --- a tiny GGUF writer (test helper) ------------------------------------------------

def _s(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", 8) + _s(value)


def _kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<I", 4) + struct.pack("<I", value)


def _kv_f32(key: str, value: float) -> bytes:
    return _s(key) + struct.pack("<I", 6) + struct.pack("<f", value)


def _kv_bool(key: str, value: bool) -> bytes:
    return _s(key) + struct.pack("<I", 7) + struct.pack("<B", int(value))


def _kv_str_array(key: str, values: list[str]) -> bytes:
    return _s(key) + struct.pack("<IIQ", 9, 8, len(values)) + b"".join(_s(v) for v in values)


def _kv_i32_array(key: str, values: list[int]) -> bytes:
    return _s(key) + struct.pack("<IIQ", 9, 5, len(values)) + struct.pack(f"<{len(values)}i", *values)


def _tensor_info(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    return (
        _s(name)
        + struct.pack("<I", len(dims))
        + struct.pack(f"<{len(dims)}Q", *dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def build_gguf(
    *,
    version: int = 3,
    kvs: list[bytes] | None = None,
    tensors: list[tuple[str, list[int], int, int]] | None = None,
    data_len: int | None = None,
    alignment: int = 32,
    kv_count: int | None = None,
    tensor_count: int | None = None,
) -> bytes:
    """Bytes of a small GGUF: default KVs + two F32 tensors of 4x2 and 8 floats."""
    if kvs is None:
        kvs = [
            _kv_str("general.architecture", "llama"),
            _kv_str("general.name", "Tiny Test"),
            _kv_u32("llama.context_length", 4096),
            _kv_u32("llama.attention.sliding_window", 1024),
            _kv_f32("llama.rope.freq_base", 10000.0),
            _kv_bool("tokenizer.ggml.add_bos_token", True),
            _kv_str_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", "world", "é"]),
            _kv_i32_array("tokenizer.ggml.token_type", [3, 3, 1, 1, 1]),
            _kv_str("tokenizer.chat_template", TEMPLATE),
        ]
    if tensors is None:
        tensors = [("a.weight", [4, 2], 0, 0), ("b.bias", [8], 0, 64)]  # 32 B each, aligned
    header = (
        b"GGUF"
        + struct.pack("<I", version)
        + struct.pack("<Q", len(tensors) if tensor_count is None else tensor_count)
        + struct.pack("<Q", len(kvs) if kv_count is None else kv_count)
        + b"".join(kvs)
        + b"".join(_tensor_info(*t) for t in tensors)
    )
    pad = (-len(header)) % alignment
    if data_len is None:
        data_len = 64 + 32
    return header + b"\0" * pad + bytes(range(256)) * (data_len // 256) + b"\x01" * (data_len % 256)


def write(tmp_path: Path, data: bytes, name: str = "model.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- parsing -----------------------------------------------------------------------------

def test_parses_header_metadata_and_properties(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf())
    info = read_gguf(path)
    assert info.path == path
    assert info.version == 3
    assert info.tensor_count == 2
    assert info.size_bytes == path.stat().st_size
    assert info.architecture == "llama"
    assert info.name == "Tiny Test"
    assert info.context_length == 4096
    assert info.sliding_window == 1024
    assert info.chat_template == TEMPLATE
    assert info.metadata["llama.rope.freq_base"] == pytest.approx(10000.0)
    assert info.metadata["tokenizer.ggml.add_bos_token"] is True
    assert info.tensor_types == {"F32": 2}
    assert info.data_offset % 32 == 0
    assert info.size_bytes - info.data_offset == 96


def test_arrays_are_summarised_by_length_unless_asked(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf())
    info = read_gguf(path)
    assert info.metadata["tokenizer.ggml.tokens.__len__"] == 5
    assert info.metadata["tokenizer.ggml.token_type.__len__"] == 5
    assert "tokenizer.ggml.tokens" not in info.metadata
    kept = read_gguf(path, keep_arrays={"tokenizer.ggml.tokens"})
    assert kept.metadata["tokenizer.ggml.tokens"] == ("<s>", "</s>", "hello", "world", "é")
    assert "tokenizer.ggml.token_type" not in kept.metadata


def test_version_2_is_accepted_and_custom_alignment_used(tmp_path: Path) -> None:
    kvs = [_kv_str("general.architecture", "gemma3"), _kv_u32("general.alignment", 64)]
    tensors = [("x", [16], 0, 0)]  # 64 bytes of F32
    path = write(tmp_path, build_gguf(version=2, kvs=kvs, tensors=tensors, alignment=64, data_len=64))
    info = read_gguf(path)
    assert info.version == 2
    assert info.alignment == 64
    assert info.data_offset % 64 == 0
    assert info.architecture == "gemma3"
    assert info.chat_template is None
    assert info.context_length is None


def test_quantized_tensor_sizes_are_checked(tmp_path: Path) -> None:
    # Q4_K: 256 elements per 144-byte block; 512x2 elements -> 4 blocks -> 576 bytes.
    kvs = [_kv_str("general.architecture", "llama")]
    ok = write(tmp_path, build_gguf(kvs=kvs, tensors=[("q", [512, 2], 12, 0)], data_len=576), "ok.gguf")
    assert read_gguf(ok).tensor_types == {"Q4_K": 1}
    short = write(
        tmp_path, build_gguf(kvs=kvs, tensors=[("q", [512, 2], 12, 0)], data_len=575), "short.gguf"
    )
    with pytest.raises(ModelFileError, match="truncated"):
        read_gguf(short)


def test_unknown_tensor_type_only_checks_offset(tmp_path: Path) -> None:
    kvs = [_kv_str("general.architecture", "llama")]
    ok = write(tmp_path, build_gguf(kvs=kvs, tensors=[("u", [4], 999, 32)], data_len=40), "ok.gguf")
    assert read_gguf(ok).tensor_types == {"type 999": 1}
    bad = write(tmp_path, build_gguf(kvs=kvs, tensors=[("u", [4], 999, 64)], data_len=40), "bad.gguf")
    with pytest.raises(ModelFileError, match="truncated"):
        read_gguf(bad)


# --- errors ------------------------------------------------------------------------------

def _error(path: Path) -> str:
    with pytest.raises(ModelFileError) as excinfo:
        read_gguf(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.gguf")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.gguf").mkdir()
    assert "folder" in _error(tmp_path / "dir.gguf")


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in _error(write(tmp_path, b""))


def test_wrong_magic_zip(tmp_path: Path) -> None:
    message = _error(write(tmp_path, b"PK\x03\x04" + b"\0" * 100))
    assert "not a GGUF model file" in message
    assert "PK" in message


def test_text_file(tmp_path: Path) -> None:
    message = _error(write(tmp_path, b"hello, this is a note and not a model\n", "notes.txt"))
    assert "not a GGUF model file" in message


def test_too_small(tmp_path: Path) -> None:
    assert "truncated" in _error(write(tmp_path, b"GGUF\x03\x00\x00\x00"))


def test_unsupported_versions(tmp_path: Path) -> None:
    data = build_gguf()
    assert "version 1" in _error(write(tmp_path, data[:4] + struct.pack("<I", 1) + data[8:], "v1.gguf"))
    assert "version 7" in _error(write(tmp_path, data[:4] + struct.pack("<I", 7) + data[8:], "v7.gguf"))
    assert "big-endian" in _error(write(tmp_path, data[:4] + struct.pack(">I", 3) + data[8:], "be.gguf"))


def test_truncated_header(tmp_path: Path) -> None:
    data = build_gguf()
    # Cut in the middle of the chat template string.
    cut = data.index(TEMPLATE.encode()) + 10
    assert "truncated" in _error(write(tmp_path, data[:cut]))


def test_truncated_data(tmp_path: Path) -> None:
    data = build_gguf()
    message = _error(write(tmp_path, data[:-1]))
    assert "truncated" in message
    assert "incomplete download" in message


def test_absurd_kv_count(tmp_path: Path) -> None:
    message = _error(write(tmp_path, build_gguf(kv_count=2**62)))
    assert "metadata entries" in message


def test_absurd_tensor_count(tmp_path: Path) -> None:
    message = _error(write(tmp_path, build_gguf(tensor_count=2**40)))
    assert "tensors" in message


def test_absurd_string_length(tmp_path: Path) -> None:
    kvs = [_s("general.name") + struct.pack("<I", 8) + struct.pack("<Q", 2**60) + b"x" * 50]
    assert "truncated or damaged" in _error(write(tmp_path, build_gguf(kvs=kvs)))


def test_absurd_array_count(tmp_path: Path) -> None:
    kvs = [_s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**50) + _s("a")]
    assert "array" in _error(write(tmp_path, build_gguf(kvs=kvs)))


def test_unknown_value_type(tmp_path: Path) -> None:
    kvs = [_s("general.name") + struct.pack("<I", 77) + b"\0" * 16]
    assert "value type 77" in _error(write(tmp_path, build_gguf(kvs=kvs)))


def test_bad_alignment(tmp_path: Path) -> None:
    kvs = [_kv_u32("general.alignment", 24)]
    assert "alignment" in _error(write(tmp_path, build_gguf(kvs=kvs, tensors=[])))


def test_misaligned_tensor_offset(tmp_path: Path) -> None:
    kvs = [_kv_str("general.architecture", "llama")]
    path = write(tmp_path, build_gguf(kvs=kvs, tensors=[("t", [4], 0, 4)], data_len=64))
    assert "not aligned" in _error(path)
