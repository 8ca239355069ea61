"""Reading a card file of any format (tui.core.cards.files): sniffing, size limit, missing files."""

from __future__ import annotations

import json

import pytest
from card_builders import write

from tui.core.cards import files
from tui.core.cards.file_types import CardFileError
from tui.core.cards.files import read_card_file


def test_too_large_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
    p = write(tmp_path, "big.json", json.dumps({"name": "Iris", "description": "x" * 2000}).encode())
    with pytest.raises(CardFileError, match="file too large"):
        read_card_file(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CardFileError, match="file not found"):
        read_card_file(tmp_path / "nope.png")
    with pytest.raises(CardFileError, match="is a folder"):
        read_card_file(tmp_path)
