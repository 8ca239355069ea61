"""`candlelit card import/show/export/delete` through the real command.

These do not need the model, so they build their environment from the
``home`` fixture instead of ``cli_env``.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import zlib

import pytest


@pytest.fixture
def env(home) -> dict[str, str]:
    e = dict(os.environ)  # ``home`` already pointed CANDLELIT_* at the temp folders
    e["PYTHONUNBUFFERED"] = "1"
    return e


def cl(env, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    assert "Traceback" not in r.stderr, r.stderr
    return r


def error_lines(r) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.startswith("candlelit: error: ")]


def card(name: str, description: str = "A 30-year-old cartographer.", **data) -> dict:
    return {
        "spec": "chara_card_v3",
        "spec_version": "3.0",
        "data": {
            "name": name, "description": description, "first_mes": "Hello.", "tags": ["maps"],
            "extensions": {"x_tool": {"kept": [1, 2]}}, "group_only_greetings": [], "nickname": "",
            "odd_field": "kept", **data,
        },
    }


def png_card(obj: dict, keyword: str = "chara") -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    text = keyword.encode() + b"\x00" + base64.b64encode(json.dumps(obj).encode())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x10\x20\x30"))
            + chunk(b"tEXt", text) + chunk(b"IEND", b""))


def slugs(env) -> list[str]:
    return [c["slug"] for c in json.loads(cl(env, "card", "list", "--json").stdout)]


def test_import_show_and_export_every_format(env, home, tmp_path):
    (tmp_path / "june.json").write_text(json.dumps(card("June Archer")))
    (tmp_path / "otto.png").write_bytes(png_card(card("Otto Brandt")))
    r = cl(env, "card", "import", str(tmp_path / "june.json"), str(tmp_path / "otto.png"))
    assert r.stdout.split() == ["june-archer", "otto-brandt"]

    chars = home / "profiles" / "default" / "characters"
    assert (chars / "otto-brandt" / "avatar.png").is_file()
    assert (chars / "otto-brandt" / "original.png").read_bytes() == (tmp_path / "otto.png").read_bytes()

    shown = json.loads(cl(env, "card", "show", "june-archer", "--json").stdout)
    assert shown["spec"] == "chara_card_v3" and shown["spec_version"] == "3.0" and "version" not in shown
    assert shown["data"]["name"] == "June Archer"
    assert shown["data"]["extensions"] == {"x_tool": {"kept": [1, 2]}}
    assert shown["data"]["odd_field"] == "kept"

    text = cl(env, "card", "show", "otto-brandt").stdout
    assert text.startswith("# Otto Brandt  [otto-brandt]") and "A 30-year-old cartographer." in text

    for fmt in ("json", "png", "charx"):
        out = tmp_path / f"june.{fmt}"
        r = cl(env, "card", "export", "june-archer", "--format", fmt, "-o", str(out))
        assert r.stdout.strip() == str(out) and out.is_file()
        new_slug = cl(env, "card", "import", str(out)).stdout.strip()
        again = json.loads(cl(env, "card", "show", new_slug, "--json").stdout)
        assert again == shown, fmt
    assert {"june-archer-2", "june-archer-3", "june-archer-4"} <= set(slugs(env))


def test_several_paths_import_the_good_ones_and_report_each_bad_one(env, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(card("Nell Price")))
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",')
    nocard = tmp_path / "photo.png"
    nocard.write_bytes(png_card(card("Hidden"), keyword="Comment"))
    young = tmp_path / "young.json"
    young.write_text(json.dumps(card("Pip", "Pip is a 14-year-old apprentice.")))
    missing = tmp_path / "missing.charx"

    r = cl(env, "card", "import", str(broken), str(good), str(nocard), str(young), str(missing), check=False)
    assert r.returncode == 2
    assert r.stdout.split() == ["nell-price"]
    errors = error_lines(r)
    assert len(errors) == 4
    assert str(broken) in errors[0] and "not valid JSON" in errors[0]
    assert str(nocard) in errors[1] and "no character card in this PNG" in errors[1]
    assert str(young) in errors[2] and 'description: "14-year-old"' in errors[2] and "import it again" in errors[2]
    assert str(missing) in errors[3] and "file not found" in errors[3]
    listed = slugs(env)
    assert "nell-price" in listed and "pip" not in listed and "hidden" not in listed


def test_delete_removes_the_folder_and_a_starter_stays_deleted(env, home, tmp_path):
    assert "mara" in slugs(env)
    folder = home / "profiles" / "default" / "characters" / "mara"
    assert folder.is_dir()
    r = cl(env, "card", "delete", "mara")
    assert r.stdout.strip() == "deleted mara" and not folder.exists()
    assert "mara" not in slugs(env)
    assert "mara" not in slugs(env)  # listing again does not reinstall it
    r = cl(env, "card", "delete", "mara", check=False)
    assert r.returncode == 2 and "no character 'mara'" in error_lines(r)[0]


def test_delete_before_any_listing_still_keeps_the_starter_deleted(env):
    cl(env, "card", "delete", "vesper")
    assert "vesper" not in slugs(env) and "mara" in slugs(env)


def test_errors_are_one_line_with_exit_2(env, tmp_path):
    r = cl(env, "card", "show", "nobody", check=False)
    assert r.returncode == 2 and "no character 'nobody'" in error_lines(r)[0]
    r = cl(env, "card", "export", "mara", "--format", "png", "-o", str(tmp_path / "no" / "dir.png"), check=False)
    assert r.returncode == 2 and "does not exist" in error_lines(r)[0]
    r = cl(env, "card", "export", "mara", "--format", "gif", "-o", str(tmp_path / "x.gif"), check=False)
    assert r.returncode == 2 and "invalid choice: 'gif'" in r.stderr
    r = cl(env, "card", "delete", "../etc", check=False)
    assert r.returncode == 2 and "invalid character" in error_lines(r)[0]
