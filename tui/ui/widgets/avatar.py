"""A character's avatar drawn in the terminal with upper half blocks.

Each cell shows two pixels stacked: "▀" with the upper pixel as foreground
and the lower one as background. A terminal cell is about twice as tall as it
is wide, so a half cell is about square and the picture keeps its aspect
ratio. Fully or mostly transparent pixels are left unpainted.

The file is untrusted (it came with an imported card): the size of the file
and of the decoded image are bounded, only the formats an avatar may have are
tried, and any failure is an :class:`AvatarError`. :class:`AvatarView` then
shows its placeholder text instead; it never crashes.

Decoding and scaling happen once per (file, size) and are cached; the view
does them in a thread worker unless the result is already in the cache.
Pillow is imported on first use only.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import work
from textual.events import Resize
from textual.widgets import Static
from textual.worker import get_current_worker

from tui.core import is_sealed

MAX_FILE_BYTES = 20 * 1024 * 1024  # an avatar is at most 20 MiB
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "AVIF")
UPPER_HALF = "▀"
LOWER_HALF = "▄"
_CACHE_SIZE = 32

Pixel = tuple[int, int, int] | None  # None: transparent


class AvatarError(Exception):
    """The avatar cannot be shown; the message says why, in one line."""


@dataclass(frozen=True)
class AvatarPixels:
    """An image scaled to fit a box of cells: ``height`` is always even
    (two pixel rows per cell row; an odd last row is padded transparent)."""

    width: int
    height: int
    rows: tuple[tuple[Pixel, ...], ...]

    @property
    def cells(self) -> tuple[int, int]:
        """(columns, rows) of terminal cells the image takes."""
        return self.width, self.height // 2


_cache: OrderedDict[tuple[str, int, int, int, int], AvatarPixels | str] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every decoded image (when an encrypted profile locks)."""
    with _cache_lock:
        _cache.clear()


def fit(size: tuple[int, int], cols: int, rows: int) -> tuple[int, int]:
    """The pixel size of an image of ``size`` scaled (up or down) to fit
    ``cols`` x ``rows`` cells, two pixels per cell vertically."""
    w, h = size
    box_w, box_h = cols, rows * 2
    scale = min(box_w / w, box_h / h)
    return max(1, min(box_w, round(w * scale))), max(1, min(box_h, round(h * scale)))


def _cache_key(path: Path, cols: int, rows: int) -> tuple[str, int, int, int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise AvatarError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc
    if st.st_size > MAX_FILE_BYTES:
        raise AvatarError(f"{path.name}: the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return str(path), st.st_mtime_ns, st.st_size, cols, rows


def cached_avatar(path: Path, cols: int, rows: int) -> AvatarPixels | None:
    """The cached result for this file and box, if decoded before (raises
    :class:`AvatarError` if it failed before); None if not decoded yet."""
    key = _cache_key(path, cols, rows)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if isinstance(hit, str):
        raise AvatarError(hit)
    return hit


def decode_avatar(path: Path, cols: int, rows: int) -> AvatarPixels:
    """Decode ``path`` and scale it to fit ``cols`` x ``rows`` cells.

    Results (and failures) are cached by path, modification time, size and
    box. Raises :class:`AvatarError` for anything that cannot be shown.
    """
    if cols < 1 or rows < 1:
        raise AvatarError("no room to draw the avatar")
    hit = cached_avatar(path, cols, rows)
    if hit is not None:
        return hit
    key = _cache_key(path, cols, rows)
    try:
        result: AvatarPixels | str = _decode(path, cols, rows)
    except AvatarError as exc:
        result = str(exc)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    if isinstance(result, str):
        raise AvatarError(result)
    return result


def _decode(path: Path, cols: int, rows: int) -> AvatarPixels:
    try:
        from PIL import Image
    except ImportError as exc:  # Pillow is a dependency; be graceful anyway
        raise AvatarError("Pillow is not installed, so images cannot be shown") from exc

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    turn = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # an encrypted profile's image is decrypted in memory, never to a file
            source = io.BytesIO(path.read_bytes()) if is_sealed(path) else path
            with Image.open(source, formats=FORMATS) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise AvatarError(f"{path.name}: the image is too large ({img.width}x{img.height})")
                orientation = img.getexif().get(0x0112)
                # cheap reduction first (JPEG decodes at a fraction of its size),
                # keeping twice the detail needed; then orient, then fit exactly
                room = max(cols, rows * 2) * 2
                img.draft("RGB", (room, room))
                work = img if img.mode in ("RGB", "RGBA", "L", "LA") else img.convert("RGBA")
                work.thumbnail((room, room), Image.Resampling.LANCZOS)
                if orientation in turn:
                    work = work.transpose(turn[orientation])
                work = work.convert("RGBA")
                width, height = fit(work.size, cols, rows)
                if work.size != (width, height):
                    work = work.resize((width, height), Image.Resampling.LANCZOS)
                data = work.tobytes()
    except AvatarError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AvatarError(f"{path.name}: the image is too large to decode safely") from exc
    except Exception as exc:  # untrusted input into a third-party decoder: nothing may escape
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AvatarError(f"{path.name}: not a readable image ({reason})") from exc

    grid: list[tuple[Pixel, ...]] = []
    for y in range(height):
        row = data[y * width * 4:(y + 1) * width * 4]
        grid.append(tuple(
            (row[i], row[i + 1], row[i + 2]) if row[i + 3] >= 128 else None
            for i in range(0, len(row), 4)
        ))
    if height % 2:
        grid.append((None,) * width)
    return AvatarPixels(width, len(grid), tuple(grid))


def _color(p: tuple[int, int, int]) -> Color:
    return Color.from_rgb(*p)


def half_block_text(pixels: AvatarPixels) -> Text:
    """The image as lines of half blocks, one line per two pixel rows."""
    text = Text(no_wrap=True, overflow="crop", end="")
    for y in range(0, pixels.height, 2):
        if y:
            text.append("\n")
        for upper, lower in zip(pixels.rows[y], pixels.rows[y + 1], strict=True):
            if upper is None and lower is None:
                text.append(" ")
            elif upper is None:
                assert lower is not None
                text.append(LOWER_HALF, Style(color=_color(lower)))
            else:
                text.append(UPPER_HALF, Style(color=_color(upper), bgcolor=_color(lower) if lower else None))
    return text


def render_avatar(path: Path, cols: int, rows: int) -> Text:
    """Decode (or take from the cache) and draw; raises :class:`AvatarError`."""
    return half_block_text(decode_avatar(path, cols, rows))


class AvatarView(Static):
    """Shows an avatar image, or a placeholder text when there is none or it
    cannot be decoded. Call :meth:`show`; the size comes from the layout."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self._path: Path | None = None
        self._placeholder = ""
        self._request: tuple[Path, int, int] | None = None  # what the image on show / being decoded is for
        self.shows_image = False
        self.problem: str | None = None  # why the image is not shown, when it failed

    def show(self, path: Path | None, placeholder: str) -> None:
        """Show the image at ``path`` (None: no avatar); ``placeholder`` is
        shown while it decodes and if it cannot be shown."""
        self._path, self._placeholder = path, placeholder
        self._request = None
        self.problem = None
        self._fall_back(None)
        if path is not None:
            self._want()

    def _fall_back(self, problem: str | None) -> None:
        self.shows_image = False
        self.problem = problem
        self.tooltip = Text(f"Avatar not shown: {problem}") if problem else None
        self.update(self._placeholder)

    def _want(self) -> None:
        if self._path is None:
            return
        cols, rows = self.content_size
        if cols < 1 or rows < 1:
            return  # not laid out yet: on_resize asks again
        request = (self._path, cols, rows)
        if request == self._request:
            return
        self._request = request
        try:
            hit = cached_avatar(self._path, cols, rows)
        except AvatarError as exc:
            self._fall_back(str(exc))
            return
        if hit is not None:
            self._draw(request, hit)
        else:
            self._decode(request)

    def on_resize(self, event: Resize) -> None:
        self._want()

    @work(thread=True, exclusive=True, group="avatar", exit_on_error=False)
    def _decode(self, request: tuple[Path, int, int]) -> None:
        try:
            result: AvatarPixels | str = decode_avatar(*request)
        except AvatarError as exc:
            result = str(exc)
        except Exception as exc:  # noqa: BLE001 - never let a decoder bug take the app down
            result = f"{request[0].name}: not a readable image ({type(exc).__name__})"
        if get_current_worker().is_cancelled:
            return
        try:
            self.app.call_from_thread(self._decoded, request, result)
        except RuntimeError:  # the app is closing
            pass

    def _decoded(self, request: tuple[Path, int, int], result: AvatarPixels | str) -> None:
        if request != self._request:
            return  # stale: another avatar or size was asked for since
        if isinstance(result, str):
            self._fall_back(result)
        else:
            self._draw(request, result)

    def _draw(self, request: tuple[Path, int, int], pixels: AvatarPixels) -> None:
        self.shows_image = True
        self.problem = None
        self.tooltip = None
        self.update(half_block_text(pixels))
