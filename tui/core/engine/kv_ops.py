"""KV-cache surgery on a llama-cpp-python ``Llama``: context shift,
sequence snapshots and state files. Called only on the engine's thread.

Context shift (KoboldCpp's idea, adapted to a prompt whose memory sits
*before* the window): when a summary cycle replaces ``[old memory][folded
chunk]`` by ``[new memory]``, the window that follows is still in the cache,
only at later positions. We

1. drop the cached tail after the window and the span ``[old memory + chunk]``,
2. move the window's cells to their new positions (``seq_add``),
3. evaluate the new memory tokens at the positions in front of the window.

llama.cpp refuses a batch whose positions are not right after a sequence's
last cell, so step 3 runs in a scratch sequence 1 that shares the prefix
cells with sequence 0 (``seq_cp`` shares cells, it copies nothing); the new
cells are then given to sequence 0 and sequence 1 is dropped. That needs a
context made with two sequences in one unified cache (``llama_with_two_seqs``).

Shifting is not exact: the kept window was computed while attending to the
removed span. ``bench/shift_drift.py`` measures how far that moves the
next-token distribution.
"""

from __future__ import annotations

import contextlib
import ctypes
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

_PATCH_LOCK = threading.Lock()
_KGRAM = 8


@contextlib.contextmanager
def two_sequences() -> Iterator[None]:
    """Make ``Llama(...)`` built inside this block use ``n_seq_max=2`` and a
    unified KV cache (llama-cpp-python has no argument for either)."""
    import llama_cpp.llama_cpp as low

    with _PATCH_LOCK:
        original = low.llama_context_default_params

        def patched() -> Any:
            params = original()
            params.n_seq_max = 2
            params.kv_unified = True
            return params

        low.llama_context_default_params = patched
        try:
            yield
        finally:
            low.llama_context_default_params = original


def _memory(llm: Any) -> Any:
    import llama_cpp

    return llama_cpp.llama_get_memory(llm._ctx.ctx)


def shift_support(llm: Any) -> tuple[bool, str]:
    """Whether removing a span and shifting the rest is safe on this model.

    An unsupported shift aborts the process at the next decode, so every
    condition is checked: llama.cpp's own ``can_shift``, no recurrent or
    hybrid memory, a full-size cache for sliding-window layers, and the
    scratch sequence."""
    import llama_cpp

    mem = _memory(llm)
    if mem is None or not llama_cpp.llama_memory_can_shift(mem):
        return False, "llama.cpp cannot shift this model's cache (e.g. M-RoPE)"
    model = llm._model.model
    if llama_cpp.llama_model_is_recurrent(model) or llama_cpp.llama_model_is_hybrid(model):
        return False, "recurrent or hybrid model: its state cannot drop a span"
    if llama_cpp.llama_model_n_swa(model) > 0 and llm.context_params.swa_full is False:
        return False, "sliding-window model without a full-size SWA cache"
    if llm.context_params.n_seq_max < 2:
        return False, "the context was made with one sequence"
    return True, ""


@dataclass(frozen=True)
class ShiftPlan:
    """Keep ``cached[:common]``; evaluate ``tokens[common:insert_end]`` in
    front of ``length`` kept tokens moved from ``src`` to ``insert_end``."""

    common: int
    insert_end: int   # q: where the kept run starts in the new prompt
    src: int          # r: where it starts in the cache
    length: int       # L

    @property
    def new_tokens(self) -> int:
        return self.insert_end - self.common

    @property
    def kept(self) -> int:
        """Prompt tokens in the cache once the plan is carried out."""
        return self.insert_end + self.length


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):  # the common prefix: the shorter one ends it
        if x != y:
            break
        n += 1
    return n


def plan_shift(
    cached: Sequence[int], tokens: Sequence[int], *, min_keep: int = 32
) -> ShiftPlan | None:
    """Find the longest run of the new prompt (after the common prefix) that
    is still in the cache further on, worth keeping by shifting (one run:
    after a fold that is the window; a longest-run search, not the first
    match, so a summary paragraph that survived does not win over it).

    The last prompt token is never part of the run (generation decodes it).
    Returns None when plain prefix reuse is as good."""
    p = common_prefix(cached, tokens)
    end = len(tokens) - 1
    if p >= end or len(cached) - p < _KGRAM:
        return None
    index: dict[tuple[int, ...], list[int]] = {}
    for r in range(p, len(cached) - _KGRAM + 1):
        index.setdefault(tuple(cached[r : r + _KGRAM]), []).append(r)
    best: ShiftPlan | None = None
    q = p
    while q + _KGRAM <= end:
        hits = index.get(tuple(tokens[q : q + _KGRAM]))
        if not hits:
            q += 1
            continue
        longest = 0
        for r in hits[:16]:
            n = _KGRAM
            while q + n < end and r + n < len(cached) and tokens[q + n] == cached[r + n]:
                n += 1
            longest = max(longest, n)
            if best is None or n > best.length:
                best = ShiftPlan(p, q, r, n)
        q += max(1, longest - _KGRAM + 1)  # runs inside this one are shorter
    if best is None or best.length < min_keep:
        return None
    if best.src == best.insert_end == p:
        return None  # nothing moves: that is plain prefix reuse
    return best


def apply_shift(llm: Any, tokens: Sequence[int], plan: ShiftPlan) -> None:
    """Carry out ``plan`` on ``llm``'s cache (sequence 0) and bookkeeping."""
    import llama_cpp

    mem = _memory(llm)
    p, q, r, n = plan.common, plan.insert_end, plan.src, plan.length
    llama_cpp.llama_memory_seq_rm(mem, 0, r + n, -1)
    if r > p:
        llama_cpp.llama_memory_seq_rm(mem, 0, p, r)
    if q != r:
        llama_cpp.llama_memory_seq_add(mem, 0, r, r + n, q - r)
    if q > p:
        llama_cpp.llama_memory_seq_rm(mem, 1, -1, -1)
        llama_cpp.llama_memory_seq_cp(mem, 0, 1, 0, p)
        batch = llm._batch
        step = max(1, llm.n_batch)
        new = list(tokens[p:q])
        try:
            for i in range(0, len(new), step):
                part = new[i : i + step]
                batch.set_batch(part, n_past=p + i, logits_all=False)
                for j in range(len(part)):
                    batch.batch.seq_id[j][0] = 1
                llm._ctx.decode(batch)
            llama_cpp.llama_memory_seq_cp(mem, 1, 0, p, q)
        finally:
            llama_cpp.llama_memory_seq_rm(mem, 1, -1, -1)
    kept = q + n
    llm.input_ids[:kept] = list(tokens[:kept])
    llm.n_tokens = kept


# -- snapshots of sequence 0 (kept in RAM around a background job) ----------


@dataclass
class Snapshot:
    tokens: list[int]
    data: Any            # ctypes buffer
    size: int


def seq_state_size(llm: Any) -> int:
    import llama_cpp

    return int(llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0))


def snapshot(llm: Any, max_bytes: int) -> Snapshot | None:
    """Copy sequence 0's cache, or None if it is empty or over ``max_bytes``."""
    import llama_cpp

    if llm.n_tokens <= 0:
        return None
    size = seq_state_size(llm)
    if size <= 0 or size > max_bytes:
        return None
    buf = (ctypes.c_uint8 * size)()
    got = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buf, size, 0)
    if got <= 0:
        return None
    return Snapshot([int(t) for t in llm.input_ids[: llm.n_tokens]], buf, int(got))


def restore(llm: Any, snap: Snapshot) -> bool:
    import llama_cpp

    llm._ctx.kv_cache_seq_rm(0, 0, -1)
    llm.n_tokens = 0
    if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, snap.data, snap.size, 0) <= 0:
        llm._ctx.kv_cache_seq_rm(0, 0, -1)
        return False
    n = len(snap.tokens)
    llm.input_ids[:n] = snap.tokens
    llm.n_tokens = n
    return True


# -- state blobs ---------------------------------------------------------------
#
# A saved cache is bytes the caller stores (plain or encrypted), never a file
# llama.cpp writes itself: an encrypted profile must not have a plain copy.
# Layout: magic, token count (uint32 LE), tokens (int32 LE), then llama.cpp's
# sequence-0 state as ``llama_state_seq_get_data`` returns it.

_BLOB_MAGIC = b"CANDLELIT-KV1\n"


def state_blob(llm: Any) -> bytes | None:
    """Sequence 0's cache and its tokens as bytes, or None when it is empty."""
    snap = snapshot(llm, max_bytes=1 << 62)
    if snap is None:
        return None
    n = len(snap.tokens)
    head = _BLOB_MAGIC + struct.pack(f"<I{n}i", n, *snap.tokens)
    return head + ctypes.string_at(snap.data, snap.size)


def load_blob(llm: Any, blob: bytes) -> list[int] | None:
    """Load a blob made by :func:`state_blob` into sequence 0; its tokens or None."""
    if not blob.startswith(_BLOB_MAGIC) or len(blob) < len(_BLOB_MAGIC) + 4:
        return None
    at = len(_BLOB_MAGIC)
    (n,) = struct.unpack_from("<I", blob, at)
    at += 4
    if n <= 0 or n > llm.n_ctx() or len(blob) <= at + 4 * n:
        return None
    tokens = list(struct.unpack_from(f"<{n}i", blob, at))
    at += 4 * n
    size = len(blob) - at
    data = (ctypes.c_uint8 * size).from_buffer_copy(blob, at)
    if not restore(llm, Snapshot(tokens, data, size)):
        return None
    return tokens
