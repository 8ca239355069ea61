"""Importing card files into a profile and exporting them (tui.core.cards.library)."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from card_builders import b64json, charx_with_icon, make_zip, text_chunk, tiny_png, v2_card, v3_card, write

from tui.core.cards import library as ch
from tui.core.cards.card import CardError, card_to_v3, parse_card
from tui.core.cards.charx import card_to_charx
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_bytes, read_card_file
from tui.core.storage.store import Store

# --------------------------------------------------------------------------
# importing into a profile


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "profile")


def folder_names(store: Store) -> list[str]:
    root = store.characters_dir
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_import_png_writes_card_avatar_and_original_privately(store, tmp_path):
    png = tiny_png([text_chunk("ccv3", b64json(v3_card()))])
    src = write(tmp_path, "Iris Card.png", png)
    result = ch.import_card_file(store, src)
    assert result.slug == "iris" and result.card.name == "Iris" and result.warnings == []
    folder = store.character_dir("iris")
    assert sorted(p.name for p in folder.iterdir()) == ["avatar.png", "card.json", "original.png"]
    assert (folder / "original.png").read_bytes() == png
    assert (folder / "avatar.png").read_bytes() == tiny_png()
    stored = json.loads((folder / "card.json").read_text())
    assert stored["version"] == 1 and stored["data"]["unknown_v3_field"] == ["kept"]
    assert mode(folder) == 0o700 and mode(store.characters_dir) == 0o700
    assert all(mode(p) == 0o600 for p in folder.iterdir())
    assert ch.avatar_path(store, "iris") == folder / "avatar.png"


def test_import_picks_unique_slugs(store, tmp_path):
    p = write(tmp_path, "a.json", json.dumps(v2_card("Iris Vale")).encode())
    slugs = [ch.import_card_file(store, p).slug for _ in range(3)]
    assert slugs == ["iris-vale", "iris-vale-2", "iris-vale-3"]
    assert folder_names(store) == slugs


def test_import_charx_with_webp_icon_keeps_its_type(store, tmp_path):
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8
    card = v3_card()
    card["data"]["assets"] = [
        {"type": "icon", "uri": "embeded://assets/icon/images/main.webp", "name": "main", "ext": "webp"}
    ]
    data = make_zip({"card.json": json.dumps(card).encode(), "assets/icon/images/main.webp": webp})
    slug = ch.import_card_file(store, write(tmp_path, "i.charx", data)).slug
    assert (store.character_dir(slug) / "avatar.webp").read_bytes() == webp
    assert (store.character_dir(slug) / "original.charx").read_bytes() == data
    # PNG export cannot convert WebP: placeholder plus a warning; CHARX keeps it
    warnings = ch.export_card(store, slug, "png", tmp_path / "out.png")
    assert "WEBP image" in warnings[0]
    assert read_card_bytes((tmp_path / "out.png").read_bytes(), "o").card.name == "Iris"
    assert ch.export_card(store, slug, "charx", tmp_path / "out.charx") == []
    assert read_card_bytes((tmp_path / "out.charx").read_bytes(), "o").avatar == webp


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bad.png", tiny_png([text_chunk("Comment", b"no card")])),
        ("bad.json", b'{"name": '),
        ("young.json", json.dumps({"name": "Kit", "description": "Kit is 15 years old."}).encode()),
    ],
)
def test_failed_import_writes_nothing(store, tmp_path, name, data):
    with pytest.raises(CardError):
        ch.import_card_file(store, write(tmp_path, name, data))
    assert folder_names(store) == []


def test_import_interrupted_midway_leaves_nothing(store, tmp_path, monkeypatch):
    real = ch.atomic_write
    calls = []

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(ch, "atomic_write", flaky)
    png = tiny_png([text_chunk("chara", b64json(v2_card()))])
    with pytest.raises(OSError):
        ch.import_card_file(store, write(tmp_path, "x.png", png))
    assert folder_names(store) == []


def test_leftovers_of_an_interrupted_import_are_never_listed(store, tmp_path):
    # what a crash just before the final rename leaves: a hidden folder with no card.json
    p = write(tmp_path, "a.json", json.dumps(v2_card()).encode())
    slug = ch.import_card_file(store, p).slug
    folder = store.character_dir(slug)
    assert (folder / "card.json").is_file() and not (folder / "card.pending.json").exists()
    leftover = store.characters_dir / ".deleted-old-abc"
    leftover.mkdir()
    ch.import_card_file(store, p)
    assert not leftover.exists()


@pytest.mark.parametrize("fmt", ["json", "png", "charx"])
def test_export_then_import_is_lossless(store, tmp_path, fmt):
    src = charx_with_icon(icon=tiny_png(rgb=b"\x01\x02\x03"))
    slug = ch.import_card_file(store, write(tmp_path, "in.charx", src)).slug
    out = tmp_path / f"out.{fmt}"
    assert ch.export_card(store, slug, fmt, out) == []
    assert mode(out) == 0o600
    again = ch.import_card_file(store, out)
    assert again.slug == f"{slug}-2"
    original = json.loads((store.character_dir(slug) / "card.json").read_text())
    copied = json.loads((store.character_dir(again.slug) / "card.json").read_text())
    assert copied == original
    if fmt == "json":
        assert json.loads(out.read_text()) == card_to_v3(again.card)
        assert ch.avatar_path(store, again.slug) is None
    else:
        assert ch.avatar_path(store, again.slug).read_bytes() == tiny_png(rgb=b"\x01\x02\x03")
    if fmt == "charx":  # the background and app file came along from the original
        names = zipfile.ZipFile(out).namelist()
        assert "assets/background/images/sky.png" in names and "x_app.json" in names


def test_export_errors(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    with pytest.raises(CardFileError, match="is a folder"):
        ch.export_card(store, slug, "json", tmp_path)
    with pytest.raises(CardFileError, match="does not exist"):
        ch.export_card(store, slug, "json", tmp_path / "missing" / "x.json")
    with pytest.raises(CardFileError, match="unknown export format 'gif'"):
        ch.export_card(store, slug, "gif", tmp_path / "x.gif")
    with pytest.raises(ch.CharacterMissing, match="no character 'ghost'"):
        ch.export_card(store, "ghost", "json", tmp_path / "x.json")


def test_export_does_not_change_the_target_folder_mode(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    ch.export_card(store, slug, "png", shared / "iris.png")
    assert mode(shared) == 0o755 and read_card_file(shared / "iris.png")[0].card.name == "Iris"


def test_delete_character(store, tmp_path):
    slug = ch.import_card_file(store, write(tmp_path, "a.json", json.dumps(v2_card()).encode())).slug
    ch.delete_character(store, slug)
    assert folder_names(store) == []
    with pytest.raises(ch.CharacterMissing, match="no character 'iris'"):
        ch.delete_character(store, slug)
    from tui.core.storage.errors import InvalidId

    with pytest.raises(InvalidId):
        ch.delete_character(store, "../etc")


def test_charx_export_never_writes_a_path_that_climbs_out():
    card = parse_card(v3_card())
    card.assets = [{"type": "icon", "uri": "embeded://../../evil.png", "name": "main", "ext": "png"}]
    others = [("../up.txt", b"x"), ("/abs.txt", b"x"), ("ok/file.txt", b"y")]
    out = card_to_charx(card, tiny_png(), "png", others)
    names = zipfile.ZipFile(io.BytesIO(out)).namelist()
    assert sorted(names) == ["assets/icon/images/main.png", "card.json", "ok/file.txt"]
    stored = json.loads(zipfile.ZipFile(io.BytesIO(out)).read("card.json"))
    assert stored["data"]["assets"][0]["uri"] == "embeded://assets/icon/images/main.png"
