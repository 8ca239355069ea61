"""The avatar drawn with half blocks: colours land in the right cells, the
aspect ratio is kept, bad files fall back to the placeholder text, and the
Studio shows a real imported avatar."""

from __future__ import annotations

import io

import pytest
from conftest import wait_until
from PIL import Image
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from textual.app import App, ComposeResult

from tui.core import paths
from tui.core.cards.card import Card
from tui.core.cards.library import avatar_path, import_card_file
from tui.core.cards.png_card import card_to_png
from tui.core.config.schema import Config
from tui.core.profile.workspace import Workspace
from tui.ui.app import make_app
from tui.ui.screens.home import HomeScreen
from tui.ui.screens.studio import StudioScreen
from tui.ui.widgets.avatar import (
    UPPER_HALF,
    AvatarError,
    AvatarView,
    decode_avatar,
    fit,
    render_avatar,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def red_blue(width: int = 32, height: int = 32, fmt: str = "PNG") -> bytes:
    """Left half red, right half blue."""
    img = Image.new("RGB", (width, height), BLUE)
    img.paste(RED, (0, 0, width // 2, height))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def cells(text) -> list[list[Segment]]:
    """The rendered lines, as one-character segments (one per cell)."""
    console = Console(width=200, color_system="truecolor", legacy_windows=False)
    lines = console.render_lines(text, console.options.update(width=200), pad=False)
    return [[s for s in line if s.text] for line in lines]


def rgb(color: Color | None) -> tuple[int, int, int] | None:
    return None if color is None else tuple(color.get_truecolor())  # type: ignore[return-value]


def near(color: Color | None, want: tuple[int, int, int]) -> bool:
    """Within a few levels of ``want`` (resampling rings slightly at the edge)."""
    got = rgb(color)
    return got is not None and all(abs(a - b) <= 4 for a, b in zip(got, want, strict=True))


def test_red_left_blue_right_exact_size(tmp_path):
    path = tmp_path / "avatar.png"
    path.write_bytes(red_blue())
    lines = cells(render_avatar(path, 32, 16))  # 32x32 pixels fit exactly: no resampling
    assert len(lines) == 16
    for line in lines:
        assert len(line) == 32
        assert all(s.text == UPPER_HALF for s in line)
        for x, seg in enumerate(line):
            want = RED if x < 16 else BLUE
            assert (rgb(seg.style.color), rgb(seg.style.bgcolor)) == (want, want), (x, seg)


def test_scaled_to_the_studio_box_keeping_the_aspect(tmp_path):
    path = tmp_path / "avatar.png"
    path.write_bytes(red_blue())
    # the Studio box: 22 x 8 cells inside the border -> 22 x 16 pixels; a square fits 16 x 16
    lines = cells(render_avatar(path, 22, 8))
    assert [len(line) for line in lines] == [16] * 8
    for line in lines:
        for seg in line[:6]:
            assert near(seg.style.color, RED) and near(seg.style.bgcolor, RED), seg
        for seg in line[-6:]:
            assert near(seg.style.color, BLUE) and near(seg.style.bgcolor, BLUE), seg


def test_fit_keeps_the_aspect_ratio():
    assert fit((32, 32), 22, 8) == (16, 16)
    assert fit((400, 600), 22, 8) == (11, 16)  # portrait: height bound
    assert fit((1000, 100), 22, 8) == (22, 2)  # wide: width bound
    assert fit((4, 4), 22, 8) == (16, 16)  # small images are scaled up


def test_large_jpeg_and_an_odd_pixel_height(tmp_path):
    path = tmp_path / "avatar.jpg"
    path.write_bytes(red_blue(1200, 900, "JPEG"))
    pixels = decode_avatar(path, 10, 10)  # 10 wide -> 10 x 7.5 -> 10 x 8 pixels
    assert (pixels.width, pixels.height) == (10, 8)
    row = pixels.rows[3]
    assert all(p is not None and p[0] > 200 and p[2] < 60 for p in row[:3])
    assert all(p is not None and p[2] > 200 and p[0] < 60 for p in row[-3:])
    wide = tmp_path / "wide.png"
    wide.write_bytes(red_blue(30, 3))
    odd = decode_avatar(wide, 10, 10)  # 10 x 1 pixels: padded to a pair of rows
    assert (odd.width, odd.height) == (10, 2)
    assert all(p is None for p in odd.rows[1])


def test_transparent_pixels_are_left_unpainted(tmp_path):
    img = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    img.putpixel((1, 1), (*BLUE, 255))  # lower right only
    img.putpixel((0, 0), (*RED, 255))  # upper left only
    path = tmp_path / "avatar.png"
    img.save(path)
    [line] = cells(render_avatar(path, 2, 1))
    assert (line[0].text, rgb(line[0].style.color), rgb(line[0].style.bgcolor)) == (UPPER_HALF, RED, None)
    assert (line[1].text, rgb(line[1].style.color)) == ("▄", BLUE)


@pytest.mark.parametrize("content", [
    b"",
    b"not an image at all",
    red_blue()[:60],  # a truncated PNG
    b"GIF89a" + b"\x00" * 40,
])
def test_corrupt_files_are_an_avatar_error(tmp_path, content):
    path = tmp_path / "avatar.png"
    path.write_bytes(content)
    with pytest.raises(AvatarError, match="avatar.png"):
        render_avatar(path, 22, 8)


def test_a_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "avatar.png"
    Image.new("1", (9000, 9000)).save(path)  # 81 MP in a few KB
    assert path.stat().st_size < 1_000_000
    with pytest.raises(AvatarError, match="too large"):
        decode_avatar(path, 22, 8)


def test_an_unlisted_format_is_refused(tmp_path):
    path = tmp_path / "avatar.png"
    Image.new("RGB", (8, 8), RED).save(path, "BMP")
    with pytest.raises(AvatarError):
        decode_avatar(path, 22, 8)


def test_results_are_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "avatar.png"
    path.write_bytes(red_blue())
    first = decode_avatar(path, 22, 8)
    assert decode_avatar(path, 22, 8) is first
    Image.new("RGB", (8, 8), BLUE).save(path)
    import os
    os.utime(path, ns=(1, 1))  # a different modification time
    again = decode_avatar(path, 22, 8)
    assert again is not first and again.rows[0][0] == BLUE


class OneAvatar(App[None]):
    CSS = "AvatarView { width: 24; height: 10; border: round white; }"

    def compose(self) -> ComposeResult:
        yield AvatarView(id="avatar")


async def test_view_falls_back_to_the_placeholder_for_a_corrupt_file(tmp_path):
    path = tmp_path / "avatar.webp"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 garbage")
    app = OneAvatar()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(AvatarView)
        view.show(path, "AB\n\n(avatar: avatar.webp)")
        await wait_until(pilot, lambda: view.problem is not None)
        assert not view.shows_image
        assert str(view.render()) == "AB\n\n(avatar: avatar.webp)"
        assert "avatar.webp" in view.problem


async def test_view_draws_then_goes_back_to_the_placeholder(tmp_path):
    path = tmp_path / "avatar.png"
    path.write_bytes(red_blue())
    app = OneAvatar()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(AvatarView)
        view.show(path, "AB\n\n(avatar: avatar.png)")
        await wait_until(pilot, lambda: view.shows_image)
        assert str(view.render()).splitlines() == [UPPER_HALF * 16] * 8
        view.show(None, "AB\n\n(no avatar)")
        assert not view.shows_image and str(view.render()) == "AB\n\n(no avatar)"


async def test_studio_shows_an_imported_avatar(home, scripted, tmp_path):
    card = Card(name="Juniper Hale", description="Juniper is a 38-year-old botanist.", first_mes="Mind the ferns.")
    src = tmp_path / "juniper.png"
    src.write_bytes(card_to_png(card, image=red_blue()))
    w = Workspace(paths.resolve(), Config())
    w.cards()
    slug = import_card_file(w.store, src).slug
    assert avatar_path(w.store, slug) is not None
    app = make_app(w, engine=scripted(), tokenizer=scripted())
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))
        app.push_screen(StudioScreen(slug))
        await wait_until(pilot, lambda: isinstance(app.screen, StudioScreen) and app.screen.ready)
        view = app.screen.query_one("#avatar", AvatarView)
        await wait_until(pilot, lambda: view.shows_image)
        shown = str(view.render())
        assert "(no avatar)" not in shown and "(avatar:" not in shown
        assert shown.splitlines() == [UPPER_HALF * 16] * 8
        # the drawn cells carry the image's colours onto the screen (row 1: the first inside the border)
        drawn = [seg for seg in view.render_line(1) if seg.text == UPPER_HALF]
        assert len(drawn) == 16
        assert all(near(s.style.color, RED) and near(s.style.bgcolor, RED) for s in drawn[:6])
        assert all(near(s.style.color, BLUE) and near(s.style.bgcolor, BLUE) for s in drawn[-6:])
