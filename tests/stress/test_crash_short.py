"""A short run of the crash harness (stress/crash.py; the long run of 500
kills is in the README): kill -9 during appends, swipes, edits, deletes,
memory and KV saves, imports and conversions; nothing corrupt, nothing
acknowledged lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_twenty_kills_lose_nothing(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "stress" / "crash.py"), "--kills", "20", "--seed", "5", "--json"],
        capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["kills"] == 20
    assert report["corrupt"] == 0 and report["lost"] == 0
    assert report["acknowledged"] > 40  # the workers got real work done between kills
