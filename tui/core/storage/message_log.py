"""Read one chat's ``messages.jsonl`` by position, at any length, through a cached index.

``messages.jsonl`` is the one source of truth; ``messages.idx`` (see
:mod:`tui.core.storage.message_index`) is a cache checked before use. In an
encrypted profile the log reads sealed segments, decrypting only those it needs.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tui.core.fsio import atomic_write, is_sealed, sealed
from tui.core.storage.message_index import (
    INDEX_NAME,
    TAIL,
    append_index,
    line_starts,
    pack_index,
    read_index,
    tail_hash,
)

PAGE = 256                      # messages per parsed page
MAX_PAGES = 64                  # parsed pages kept (16k messages)
FLUSH_EVERY = 64                # index lines that may be missing from the file on disk
MAX_SEGMENTS = 32               # decrypted sealed segments kept (besides the last one)



@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int
    ino: int


class _Distrust(Exception):
    """A decrypted segment does not hold the count the index records."""


class _Seg:
    """One decrypted segment: its bytes, line starts and (once read) messages."""

    __slots__ = ("msgs", "raw", "starts")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.starts = line_starts(raw)
        self.msgs: list | None = None

    def messages(self, parse: Callable[[bytes], object]) -> list:
        if self.msgs is None:
            raw, starts = self.raw, self.starts
            n = len(starts)
            self.msgs = [
                parse(raw[a:(starts[j + 1] if j + 1 < n else len(raw))]) for j, a in enumerate(starts)
            ]
        return self.msgs


class MessageLog:
    """Offsets and pages of one chat file. ``parse`` turns one line's bytes
    into a message, a dataclass with an ``extra`` dict (it raises
    ``ValueError`` for a line that is not one)."""

    def __init__(self, path: Path, parse: Callable[[bytes], object]) -> None:
        self.path = path
        self.index_path = path.with_name(INDEX_NAME)
        self.sealed = is_sealed(path)
        self._parse = parse
        self._lock = threading.RLock()
        self._stamp: _Stamp | None = None
        self._offsets: list[int] = []
        self._covered = 0            # bytes of the chat file the offsets cover
        self._flushed = 0            # offsets already in the index file
        self._pages: OrderedDict[int, list] = OrderedDict()
        self._raw: bytearray | None = None  # the whole decrypted file (sealed only)
        self._segs: list[tuple[tuple, int]] = []  # (segment stamp, plaintext length), sealed
        self._tail = b""             # hash of the TAIL bytes before ``_covered``
        self._ids: dict[str, int] = {}  # positions found by ``find_id``
        # sealed, by segment ("lazy"), or the whole chat decrypted ("full")
        self._mode: str | None = None
        self._distrust = False       # a segment disagreed with its count: full from now on
        self._layout: list[tuple[str, tuple, int | None]] = []  # (opaque, stamp, records)
        self._starts: list[int] = [0]  # position of each segment's first message, then the count
        self._cache: OrderedDict[tuple, _Seg] = OrderedDict()  # closed segments decrypted
        self._last: _Seg | None = None  # the last segment (always decrypted)

    # -- freshness -----------------------------------------------------------

    def _stat(self) -> _Stamp | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return _Stamp(st.st_size, st.st_mtime_ns, getattr(st, "st_ino", 0))

    def refresh(self) -> bool:
        """Bring the offsets up to date with the file; False when the file
        has an unterminated tail or cannot be indexed without a repair."""
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return True
            if stamp is None:
                self._reset()
                self._stamp = None
                return True
            if self.sealed:
                return self._refresh_sealed(stamp)
            if (
                self._stamp is not None
                and stamp.ino == self._stamp.ino
                and stamp.size > self._covered
                and self._covered_tail_matches()
            ):
                ok = self._extend(stamp)
            else:
                ok = self._load_index(stamp) or self._rebuild(stamp)
            if ok:
                self._maybe_flush()
            return ok

    def _reset(self) -> None:
        self._offsets = []
        self._covered = 0
        self._flushed = 0
        self._pages.clear()
        self._raw = None
        self._segs = []
        self._ids = {}
        self._mode = None
        self._layout = []
        self._starts = [0]
        self._cache.clear()
        self._last = None

    # -- sealed, by segment --------------------------------------------------

    def _refresh_sealed(self, stamp: _Stamp) -> bool:
        if self._distrust:
            return self._refresh_sealed_full(stamp)
        try:
            layout = sealed(self.path).segment_layout()
        except FileNotFoundError:
            return self._refresh_sealed_full(stamp)
        if any(records is None for _o, _st, records in layout[:-1]):
            return self._refresh_sealed_full(stamp)  # an index from before the counts
        if self._mode != "lazy":
            self._reset()
        opaque, st, _ = layout[-1]
        old_last = self._layout[-1][:2] if self._layout else None
        last = self._last if old_last == (opaque, st) else None
        try:
            if last is None:
                last = _Seg(sealed(self.path).read_segment(opaque))
        except FileNotFoundError:
            return self._refresh_sealed_full(stamp)
        if last.raw and not last.raw.endswith(b"\n"):
            return False  # a torn last line: the store repairs the file first
        keys = {(o, s) for o, s, _r in layout}
        if self._last is not None and old_last is not None and old_last != (opaque, st) and old_last in keys:
            self._cache[old_last] = self._last  # it was closed as it is
        for key in [k for k in self._cache if k not in keys]:
            del self._cache[key]
        starts = [0]
        for _o, _s, records in layout[:-1]:
            starts.append(starts[-1] + int(records or 0))
        starts.append(starts[-1] + len(last.starts))
        # positions found before stay valid up to the first segment that changed
        kept = 0
        while kept < min(len(layout), len(self._layout)) and layout[kept][:2] == self._layout[kept][:2]:
            kept += 1
        upto = min(self._starts[kept], starts[kept])
        self._ids = {k: v for k, v in self._ids.items() if v < upto}
        self._mode = "lazy"
        self._layout = layout
        self._starts = starts
        self._last = last
        self._stamp = stamp
        return True

    def _segment(self, k: int) -> _Seg:
        """Segment ``k`` decrypted (cached), checked against its count."""
        if k == len(self._layout) - 1:
            assert self._last is not None
            return self._last
        opaque, st, records = self._layout[k]
        key = (opaque, st)
        seg = self._cache.get(key)
        if seg is None:
            seg = _Seg(sealed(self.path).read_segment(opaque))
            self._cache[key] = seg
            while len(self._cache) > MAX_SEGMENTS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        if len(seg.starts) != records or (seg.raw and not seg.raw.endswith(b"\n")):
            raise _Distrust(k)
        return seg

    def _lazily(self, read: Callable[[], object]) -> object:
        """Run ``read``; when a segment went missing (another process
        rewrote the chat) or disagrees with its count, read the chat's
        layout again (the whole chat, for a disagreement) and retry once."""
        try:
            return read()
        except (_Distrust, FileNotFoundError) as exc:
            if isinstance(exc, _Distrust):
                self._distrust = True
            stamp = self._stat()
            self._reset()
            self._stamp = None
            if stamp is not None and not self._refresh_sealed(stamp):
                self._reset()  # a torn tail now: nothing until the store repairs it
            return read()

    def _refresh_sealed_full(self, stamp: _Stamp) -> bool:
        if self._mode != "full":
            self._reset()
        self._mode = "full"
        try:
            layout = sealed(self.path).segments()
            kept = 0  # leading segments unchanged since the last refresh
            if self._raw is not None:
                while (
                    kept < len(layout) and kept < len(self._segs)
                    and self._segs[kept][0] == layout[kept]
                ):
                    kept += 1
            fresh = [sealed(self.path).read_segment(seg[0]) for seg in layout[kept:]]
        except FileNotFoundError:
            layout, kept, fresh = [], 0, []
            try:
                fresh = [self.path.read_bytes()]
            except FileNotFoundError:
                pass
        base = sum(n for _key, n in self._segs[:kept])
        lines = bisect.bisect_left(self._offsets, base) if kept else 0
        raw = self._raw if kept else bytearray()
        assert raw is not None
        del raw[base:]
        new = b"".join(fresh)
        raw += new
        self._raw = raw
        self._segs = self._segs[:kept] + [
            (key, len(piece)) for key, piece in zip(layout[kept:], fresh, strict=False)
        ]
        del self._offsets[lines:]
        for p in [p for p in self._pages if p >= lines // PAGE]:
            del self._pages[p]
        self._ids = {k: v for k, v in self._ids.items() if v < lines}
        self._flushed = 0
        if raw and not raw.endswith(b"\n"):
            self._segs = []  # read it all again next time
            return False
        self._offsets.extend(line_starts(new, base))
        self._covered = len(raw)
        self._stamp = stamp
        return True

    def _read(self, start: int, stop: int) -> bytes:
        if self._raw is not None:
            return bytes(self._raw[start:stop])
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(stop - start)

    def _covered_tail_matches(self) -> bool:
        lo = max(0, self._covered - TAIL)
        return self._covered == 0 or tail_hash(self._read(lo, self._covered)) == self._tail

    def _extend(self, stamp: _Stamp) -> bool:
        new = self._read(self._covered, stamp.size)
        if not new.endswith(b"\n"):
            return False  # a torn (or still being written) last line
        starts = line_starts(new)
        for i, a in enumerate(starts):
            b = starts[i + 1] if i + 1 < len(starts) else len(new)
            try:
                self._parse(new[a:b])
            except ValueError:
                return False  # a corrupt line: the store repairs the file first
        # the last page may have been partial: parse it again
        self._pages.pop(len(self._offsets) // PAGE, None)
        self._offsets.extend(self._covered + a for a in starts)
        self._covered = stamp.size
        self._tail = tail_hash(self._read(max(0, self._covered - TAIL), self._covered))
        self._stamp = stamp
        return True

    def _load_index(self, stamp: _Stamp) -> bool:
        """Use ``messages.idx`` when it matches the file exactly, or covers a
        prefix of it (then read only the rest)."""
        self._reset()
        try:
            data = self.index_path.read_bytes()
        except OSError:
            return False
        found = read_index(data, stamp.size, stamp.mtime_ns, self._read)
        if found is None:
            return False
        offsets, covered, count, mtime_ns, tail = found
        self._offsets = offsets
        self._covered = covered
        self._flushed = count
        self._tail = tail
        if covered == stamp.size:
            self._stamp = stamp
            return True
        self._stamp = _Stamp(covered, mtime_ns, stamp.ino)
        return self._extend(stamp)

    def _rebuild(self, stamp: _Stamp) -> bool:
        self._reset()
        with open(self.path, "rb") as f:
            raw = f.read()
        if raw and not raw.endswith(b"\n"):
            return False
        for start in line_starts(raw):
            end = raw.find(b"\n", start)
            try:
                self._parse(raw[start:end + 1])
            except ValueError:
                return False  # a corrupt line: the store repairs the file first
        self._offsets = line_starts(raw)
        self._covered = len(raw)
        self._tail = tail_hash(raw[max(0, len(raw) - TAIL):])
        self._stamp = _Stamp(len(raw), stamp.mtime_ns, stamp.ino)
        self._flushed = -1  # write it
        return True

    def _maybe_flush(self) -> None:
        if self.sealed or self._stamp is None:
            return
        if self._flushed >= 0 and len(self._offsets) - self._flushed < FLUSH_EVERY:
            return
        self.flush()

    def flush(self) -> None:
        """Write the index file (atomically) if it is behind."""
        with self._lock:
            if self.sealed or self._stamp is None or self._flushed == len(self._offsets):
                return
            if self._stat() is None:
                return  # the chat was deleted (by another store): never bring its folder back
            n = len(self._offsets)
            header, body = pack_index(self._offsets, self._covered, self._stamp.mtime_ns, self._tail)
            try:
                if not append_index(self.index_path, self._flushed, header, body):
                    atomic_write(self.index_path, header + body)
            except OSError:
                return  # only a cache: a full disk must not stop reading the chat
            self._flushed = n

    def forget(self) -> None:
        """Drop everything known (the file was rewritten); remove the index."""
        with self._lock:
            self._reset()
            self._stamp = None
            try:
                os.unlink(self.index_path)
            except (OSError, TypeError):
                pass

    def appended(self, line: bytes) -> None:
        """This process appended ``line`` (with its newline): extend in place."""
        with self._lock:
            if self.sealed or self._stamp is None:
                return
            stamp = self._stat()
            if stamp is None or stamp.ino != self._stamp.ino or stamp.size != self._covered + len(line):
                return  # someone else wrote too: the next refresh finds out
            self._pages.pop(len(self._offsets) // PAGE, None)
            if line.strip():
                self._offsets.append(self._covered)
            self._covered = stamp.size
            self._tail = tail_hash(self._read(max(0, self._covered - TAIL), self._covered))
            self._stamp = stamp
            self._maybe_flush()

    # -- reading -------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            if self._mode == "lazy":
                return self._starts[-1]
            return len(self._offsets)

    def _page(self, p: int) -> list:
        page = self._pages.get(p)
        if page is not None:
            self._pages.move_to_end(p)
            return page
        lo = p * PAGE
        hi = min(len(self._offsets), lo + PAGE)
        if lo >= hi:
            return []
        start = self._offsets[lo]
        end = self._offsets[hi] if hi < len(self._offsets) else self._covered
        raw = self._read(start, end)
        page = []
        for i in range(lo, hi):
            a = self._offsets[i] - start
            b = (self._offsets[i + 1] - start) if i + 1 < hi else len(raw)
            page.append(self._parse(raw[a:b]))
        self._pages[p] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def slice(self, start: int, stop: int) -> list:
        """Messages ``start`` to ``stop`` (clamped, like a list slice)."""
        with self._lock:
            if self._mode == "lazy":
                return self._lazily(lambda: self._slice_lazy(start, stop))  # type: ignore[return-value]
            n = len(self._offsets)
            start, stop = max(0, min(start, n)), max(0, min(stop, n))
            out: list = []
            i = start
            while i < stop:
                p = i // PAGE
                page = self._page(p)
                lo = p * PAGE
                take = page[i - lo: min(stop, lo + len(page)) - lo]
                # copies: a caller may change what it got, never the cache
                out.extend(replace(m, extra=dict(m.extra)) for m in take)
                i = lo + len(page)
                if not take:
                    break
            return out

    def _slice_lazy(self, start: int, stop: int) -> list:
        if self._mode != "lazy":
            return self.slice(start, stop)
        n = self._starts[-1]
        start, stop = max(0, min(start, n)), max(0, min(stop, n))
        out: list = []
        i = start
        while i < stop:
            k = bisect.bisect_right(self._starts, i) - 1
            msgs = self._segment(k).messages(self._parse)
            lo = self._starts[k]
            take = msgs[i - lo: stop - lo]
            out.extend(replace(m, extra=dict(m.extra)) for m in take)
            i = lo + len(msgs)
            if not take:
                break
        return out

    def _raw_lines_lazy(self) -> list[tuple[int, bytes]]:
        if self._mode != "lazy":
            return self.raw_lines()
        out = []
        for k in range(len(self._layout)):
            seg = self._segment(k)
            base, raw, starts = self._starts[k], seg.raw, seg.starts
            n = len(starts)
            for j, a in enumerate(starts):
                out.append((base + j, raw[a:(starts[j + 1] if j + 1 < n else len(raw))]))
        return out

    def _find_id_lazy(self, msg_id: str, needle: bytes) -> int | None:
        if self._mode != "lazy":
            return self.find_id(msg_id)
        for k in range(len(self._layout) - 1, -1, -1):
            seg = self._segment(k)
            pos = len(seg.raw)
            while True:
                hit = seg.raw.rfind(needle, 0, pos)
                if hit < 0:
                    break
                j = bisect.bisect_right(seg.starts, hit) - 1
                if j >= 0:
                    m = seg.messages(self._parse)[j]
                    if getattr(m, "id", None) == msg_id:
                        self._ids[msg_id] = self._starts[k] + j
                        return self._starts[k] + j
                pos = hit
        return None

    def raw_lines(self) -> list[tuple[int, bytes]]:
        """Every line's bytes with its position (for scans such as search);
        one read of the whole file."""
        with self._lock:
            if self._mode == "lazy":
                return self._lazily(self._raw_lines_lazy)  # type: ignore[return-value]
            raw = self._read(0, self._covered)
            out = []
            n = len(self._offsets)
            for i, start in enumerate(self._offsets):
                end = self._offsets[i + 1] if i + 1 < n else self._covered
                out.append((i, raw[start:end]))
            return out

    def find_id(self, msg_id: str) -> int | None:
        """Position of the message with ``msg_id``, searched from the end."""
        needle = json.dumps(msg_id, ensure_ascii=False).encode("utf-8")
        with self._lock:
            known = self._ids.get(msg_id)
            if known is not None and known < self.count():
                m = self.slice(known, known + 1)
                if m and getattr(m[0], "id", None) == msg_id:
                    return known
            if self._mode == "lazy":
                return self._lazily(lambda: self._find_id_lazy(msg_id, needle))  # type: ignore[return-value]
            raw = self._read(0, self._covered)
            pos = len(raw)
            while True:
                hit = raw.rfind(needle, 0, pos)
                if hit < 0:
                    return None
                i = bisect.bisect_right(self._offsets, hit) - 1
                if i >= 0:
                    m = self.slice(i, i + 1)
                    if m and getattr(m[0], "id", None) == msg_id:
                        self._ids[msg_id] = i
                        return i
                pos = hit
