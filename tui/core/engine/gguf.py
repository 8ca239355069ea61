"""Read and sanity-check a GGUF model file's header, without llama.cpp.

Defensive: a damaged or hostile file fails fast with :class:`ModelFileError`.
See docs/ARCHITECTURE.md#the-engine-seam.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.errors import CandlelitError

__all__ = ["GGUFInfo", "ModelFileError", "read_gguf", "GGML_TYPES"]

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
ARRAY_LEN_SUFFIX = ".__len__"

# The fixed part of the header: magic, version, tensor_count, kv_count.
_HEADER_FIXED = 4 + 4 + 8 + 8
# Smallest possible encodings, used to bound counts by the bytes left.
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, a one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims=0, type, offset
_MAX_DIMS = 8  # ggml uses 4; allow a little headroom, refuse nonsense
_MAX_ARRAY_DEPTH = 4

_U8 = struct.Struct("<B")
_I8 = struct.Struct("<b")
_U16 = struct.Struct("<H")
_I16 = struct.Struct("<h")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_F32 = struct.Struct("<f")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")

# GGUF metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32 = 0, 1, 2, 3, 4, 5
T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 6, 7, 8, 9
T_UINT64, T_INT64, T_FLOAT64 = 10, 11, 12

_SCALARS: dict[int, struct.Struct] = {
    T_UINT8: _U8,
    T_INT8: _I8,
    T_UINT16: _U16,
    T_INT16: _I16,
    T_UINT32: _U32,
    T_INT32: _I32,
    T_FLOAT32: _F32,
    T_BOOL: _U8,
    T_UINT64: _U64,
    T_INT64: _I64,
    T_FLOAT64: _F64,
}

# ggml tensor types: id -> (name, elements per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}


class ModelFileError(CandlelitError):
    """A model file is missing, unreadable, not GGUF, or damaged.

    The message is one line meant for the user, and names the file.
    """


@dataclass(frozen=True)
class GGUFInfo:
    """What the header of a GGUF file says (see the module doc for ``metadata``)."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, object]
    size_bytes: int
    alignment: int = DEFAULT_ALIGNMENT
    data_offset: int = 0  # where the tensor data section starts
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml type name -> count

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return None

    @property
    def architecture(self) -> str | None:
        return self._str("general.architecture")

    @property
    def name(self) -> str | None:
        return self._str("general.name")

    @property
    def chat_template(self) -> str | None:
        return self._str("tokenizer.chat_template")

    @property
    def context_length(self) -> int | None:
        arch = self.architecture
        return self._int(f"{arch}.context_length") if arch else None

    @property
    def sliding_window(self) -> int | None:
        arch = self.architecture
        return self._int(f"{arch}.attention.sliding_window") if arch else None


class _Damaged(Exception):
    """Internal: the header is inconsistent; the message says how."""


class _Truncated(Exception):
    """Internal: the header runs past the end of the file."""


class _Reader:
    """A bounds-checked little-endian cursor over a read-only buffer."""

    __slots__ = ("buf", "pos", "size")

    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.pos = 0
        self.size = size

    @property
    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int) -> int:
        """Advance by ``n`` bytes; return where they start."""
        start = self.pos
        if n < 0 or n > self.size - start:
            raise _Truncated()
        self.pos = start + n
        return start

    def unpack(self, st: struct.Struct) -> object:
        return st.unpack_from(self.buf, self.take(st.size))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.buf, self.take(4))[0]

    def u64(self) -> int:
        return _U64.unpack_from(self.buf, self.take(8))[0]

    def string(self) -> str:
        n = self.u64()
        start = self.take(n)
        return self.buf[start : start + n].decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.take(self.u64())


def _read_value(r: _Reader, vtype: int) -> object:
    """Read one scalar or string value."""
    if vtype == T_STRING:
        return r.string()
    st = _SCALARS.get(vtype)
    if st is None:
        raise _Damaged(f"unknown metadata value type {vtype}")
    value = r.unpack(st)
    return bool(value) if vtype == T_BOOL else value


def _read_array(r: _Reader, keep: bool, depth: int = 0) -> tuple[int, tuple[object, ...] | None]:
    """Read an array header and its elements; return (count, values or None)."""
    if depth > _MAX_ARRAY_DEPTH:
        raise _Damaged("arrays nested too deeply")
    etype = r.u32()
    count = r.u64()
    if etype == T_STRING:
        min_size = 8
    elif etype == T_ARRAY:
        min_size = 4 + 8
    elif etype in _SCALARS:
        min_size = _SCALARS[etype].size
    else:
        raise _Damaged(f"unknown array element type {etype}")
    if count * min_size > r.left:
        raise _Damaged(f"an array claims {count} elements, more than the file can hold")
    if keep:
        if etype == T_ARRAY:
            return count, tuple(_read_array(r, True, depth + 1)[1] for _ in range(count))
        return count, tuple(_read_value(r, etype) for _ in range(count))
    # Skip without materialising anything.
    if etype == T_STRING:
        take, u64, buf = r.take, _U64.unpack_from, r.buf
        for _ in range(count):
            take(u64(buf, take(8))[0])
    elif etype == T_ARRAY:
        for _ in range(count):
            _read_array(r, False, depth + 1)
    else:
        r.take(count * min_size)
    return count, None


def _tensor_nbytes(ggml_type: int, dims: list[int]) -> int | None:
    """Bytes a tensor occupies, or None when its type is unknown to us."""
    info = GGML_TYPES.get(ggml_type)
    if info is None:
        return None
    _, block, type_size = info
    n = 1
    for d in dims:
        n *= d
    if dims and dims[0] % block:
        raise _Damaged(f"a {info[0]} tensor has a row of {dims[0]}, not a multiple of {block}")
    return n // block * type_size


def _open_error(path: Path) -> ModelFileError | None:
    """A clear error for paths that are not a readable regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return ModelFileError(f"{path} does not exist")
    except PermissionError:
        return ModelFileError(f"cannot read {path}: permission denied")
    except OSError as e:
        return ModelFileError(f"cannot read {path}: {e.strerror or e}")
    if path.is_dir():
        return ModelFileError(f"{path} is a folder, not a GGUF model file")
    if not path.is_file():
        return ModelFileError(f"{path} is not a regular file, so not a GGUF model file")
    if st.st_size == 0:
        return ModelFileError(f"{path} is empty, not a GGUF model file")
    return None


def read_gguf(path: Path | str, *, keep_arrays: Collection[str] = ()) -> GGUFInfo:
    """Parse and check the header of the GGUF file at ``path``.

    Arrays whose key is in ``keep_arrays`` are returned as tuples in the
    metadata; all others only as their length (``"<key>.__len__"``).
    Raises :class:`ModelFileError` (one line, naming the file) when the file
    is missing, not a file, empty, not GGUF, of an unsupported version,
    damaged, or truncated.
    """
    path = Path(path)
    err = _open_error(path)
    if err is not None:
        raise err
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ModelFileError(f"{path} is empty, not a GGUF model file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(path, buf, size, frozenset(keep_arrays))
    except PermissionError:
        raise ModelFileError(f"cannot read {path}: permission denied") from None
    except (OSError, ValueError) as e:
        msg = getattr(e, "strerror", None) or str(e)
        raise ModelFileError(f"cannot read {path}: {msg}") from None


def _parse(path: Path, buf: mmap.mmap, size: int, keep: frozenset[str]) -> GGUFInfo:
    head = buf[:4]
    if head != MAGIC:
        raise ModelFileError(f"{path} is not a GGUF model file (it starts with {buf[:8]!r})")
    if size < _HEADER_FIXED:
        raise ModelFileError(f"{path} is truncated: only {size} bytes, too short for a GGUF header")
    r = _Reader(buf, size)
    r.take(4)
    version = r.u32()
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
            detail = "a big-endian GGUF, which is not supported"
        elif version == 1:
            detail = "GGUF version 1, too old to be supported"
        else:
            detail = f"GGUF version {version}, which is not supported (only 2 and 3)"
        raise ModelFileError(f"{path} is {detail}")
    tensor_count = r.u64()
    kv_count = r.u64()
    if kv_count * _MIN_KV_BYTES > r.left:
        raise ModelFileError(
            f"{path} is damaged: it claims {kv_count} metadata entries, "
            f"more than a {size}-byte file can hold"
        )
    if tensor_count * _MIN_TENSOR_INFO_BYTES > r.left:
        raise ModelFileError(
            f"{path} is damaged: it claims {tensor_count} tensors, "
            f"more than a {size}-byte file can hold"
        )
    try:
        metadata = _read_metadata(r, kv_count, keep)
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
        ):
            raise _Damaged(f"general.alignment is {alignment!r}, not a power of two")
        tensors = _read_tensor_infos(r, tensor_count, alignment)
    except _Truncated:
        raise ModelFileError(
            f"{path} is truncated or damaged: its header runs past the end of the file "
            f"({size} bytes)"
        ) from None
    except _Damaged as e:
        raise ModelFileError(f"{path} is damaged: {e}") from None

    header_end = r.pos
    data_offset = -(-header_end // alignment) * alignment
    data_size = size - data_offset
    needed = 0
    tensor_types: dict[str, int] = {}
    for _name, ttype, offset, nbytes in tensors:
        tname = GGML_TYPES[ttype][0] if ttype in GGML_TYPES else f"type {ttype}"
        tensor_types[tname] = tensor_types.get(tname, 0) + 1
        if nbytes is None:
            if offset >= data_size:
                needed = max(needed, offset + 1)
        else:
            needed = max(needed, offset + nbytes)
    if tensors and needed > data_size:
        raise ModelFileError(
            f"{path} is truncated: its tensors need {data_offset + needed} bytes but the file "
            f"has {size} (an incomplete download?)"
        )
    return GGUFInfo(
        path=path,
        version=version,
        tensor_count=tensor_count,
        metadata=metadata,
        size_bytes=size,
        alignment=alignment,
        data_offset=data_offset,
        tensor_types=tensor_types,
    )


def _read_metadata(r: _Reader, kv_count: int, keep: frozenset[str]) -> dict[str, object]:
    metadata: dict[str, object] = {}
    for _ in range(kv_count):
        key = r.string()
        vtype = r.u32()
        if vtype == T_ARRAY:
            count, values = _read_array(r, key in keep)
            metadata[key + ARRAY_LEN_SUFFIX] = count
            if values is not None:
                metadata[key] = values
        else:
            metadata[key] = _read_value(r, vtype)
    return metadata


def _read_tensor_infos(
    r: _Reader, tensor_count: int, alignment: int
) -> list[tuple[str, int, int, int | None]]:
    tensors: list[tuple[str, int, int, int | None]] = []
    for _ in range(tensor_count):
        name = r.string()
        n_dims = r.u32()
        if n_dims > _MAX_DIMS:
            raise _Damaged(f"tensor {name!r} claims {n_dims} dimensions")
        dims = [r.u64() for _ in range(n_dims)]
        ttype = r.u32()
        offset = r.u64()
        if offset % alignment:
            raise _Damaged(f"tensor {name!r} is at offset {offset}, not aligned to {alignment}")
        tensors.append((name, ttype, offset, _tensor_nbytes(ttype, dims)))
    return tensors
