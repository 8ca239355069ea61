"""What a crash or a race leaves behind is swept, never recreated."""

from __future__ import annotations

import pytest

from tui.core import paths
from tui.core.config.schema import Config
from tui.core.engine.scripted import ScriptedEngine
from tui.core.memory.document import memory_path
from tui.core.memory.fold import MemoryChanged, fold
from tui.core.profile.workspace import Workspace
from tui.core.storage.model import Message


def test_a_branch_cut_short_by_a_crash_is_swept(home):
    ws = Workspace(paths.resolve(), Config())
    ws.install_starters()
    chat = ws.new_chat("mara")
    staged = ws.store.chats_dir / ".new-20260101-000000-beef"
    staged.mkdir(mode=0o700)
    (staged / "chat.toml").write_text('id = "20260101-000000-beef"\n')
    (staged / "messages.jsonl").write_text('{"text": "a half-copied secret"}\n')
    assert [c.id for c in ws.store.list_chats()] == [chat.id]
    assert not staged.exists()


def test_a_fold_that_ends_after_its_chat_was_deleted_writes_nothing(home):
    ws = Workspace(paths.resolve(), Config())
    ws.install_starters()
    chat = ws.new_chat("mara")
    msgs = [Message.new("Sam", "user", "The bakery opens at five."), Message.new("Mara", "assistant", "Early!")]
    for m in msgs:
        ws.store.append(chat.id, m)
    folder = ws.store.chat_dir(chat.id)
    ws.store.delete_chat(chat.id)
    with pytest.raises(MemoryChanged, match="deleted"):
        fold(ScriptedEngine(["Sam bakes at five."]), folder, msgs, "Mara", "Sam")
    assert not folder.exists() and not memory_path(folder).exists()


def test_encrypting_a_profile_drops_its_last_chat_from_the_plain_state_file(home, fast_kdf):
    from tui.core.config.state import load_state, save_state
    from tui.core.profile import profiles as P

    p = paths.resolve()
    P.create_profile(p, "Rosa")
    save_state(p.state_file, {"profile": "Rosa", "last_chat": "20260101-000000-beef", "last_character": "mara"})
    P.encrypt_profile(p, "Rosa", "a long passphrase")
    assert load_state(p.state_file) == {"profile": "Rosa"}
    assert "beef" not in p.state_file.read_text() and "mara" not in p.state_file.read_text()
