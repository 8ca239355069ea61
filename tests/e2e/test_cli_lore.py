"""`candlelit lore ...` and a standalone lorebook reaching the prompt."""

from __future__ import annotations

import json
import subprocess
import sys

ST_WORLD = {
    "entries": {
        "0": {"uid": 0, "key": ["lighthouse"], "keysecondary": [], "content": "The lighthouse keeper is named Orrin.",
              "constant": False, "selective": False, "order": 100, "position": 0, "disable": False,
              "comment": "keeper"},
        "1": {"uid": 1, "key": [], "content": "Brackwater is a cold harbour town.", "constant": True,
              "order": 1, "position": 0, "disable": False},
    }
}


def cl(env, *args, check=True):
    r = subprocess.run([sys.executable, "-m", "tui", *args], env=env, capture_output=True, text=True, timeout=120)
    if check and r.returncode:
        raise AssertionError(r.stderr)
    return r


def test_import_list_prompt_delete(cli_env, tmp_path):
    src = tmp_path / "Harbour World.json"
    src.write_text(json.dumps(ST_WORLD))
    slug = cl(cli_env, "lore", "import", str(src)).stdout.strip()
    assert slug == "harbour-world"
    listed = json.loads(cl(cli_env, "lore", "list", "--json").stdout)
    assert listed == [{"slug": "harbour-world", "name": listed[0]["name"], "entries": 2}]

    chat = cl(cli_env, "chat", "new", "--character", "mara").stdout.strip()
    prompt = json.loads(cl(cli_env, "prompt", chat, "--json").stdout)
    assert "Brackwater is a cold harbour town." in prompt["sections"][0]["text"]  # constant: stable part
    assert "Orrin" not in prompt["text"]
    cl(cli_env, "chat", "say", chat, "Who looks after the lighthouse?", "--max-tokens", "8", "--seed", "1")
    prompt = json.loads(cl(cli_env, "prompt", chat, "--json").stdout)
    volatile = [s for s in prompt["sections"] if s["name"] == "volatile"]
    assert volatile and "The lighthouse keeper is named Orrin." in volatile[0]["text"]

    cl(cli_env, "lore", "delete", slug)
    assert json.loads(cl(cli_env, "lore", "list", "--json").stdout) == []


def test_bad_lorebook_is_one_clear_line(cli_env, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    r = cl(cli_env, "lore", "import", str(bad), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("candlelit: error:") and "broken.json" in r.stderr
    r = cl(cli_env, "lore", "delete", "nope", check=False)
    assert r.returncode == 2 and "no lorebook 'nope'" in r.stderr
