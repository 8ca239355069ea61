"""Pilot tests of the Memory screen, over a stand-in controller that keeps
a chat's memory.md in a tmp folder with the real load_memory/save_memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conftest import wait_until
from textual.app import App
from textual.widgets import OptionList, Static, TextArea

from tui.core.memory.document import Fact, Memory, load_memory, memory_path, parse_memory, save_memory
from tui.ui.modals.confirm import ConfirmScreen, UnsavedChangesScreen
from tui.ui.modals.dialogs import AskScreen
from tui.ui.screens.memory import (
    BUSY_TEXT,
    MemoryScreen,
    fact_prompt,
)

SIZE = (100, 40)
TCSS = Path(__file__).resolve().parents[2] / "tui" / "ui" / "candlelit.tcss"
UPTO = "0190f3c2a1b2c3d4e5f"


@dataclass
class Msg:
    id: str
    speaker: str
    text: str


class FolderController:
    """The MemoryController interface over a chat folder (stand-in for Session)."""

    def __init__(self, chat_dir: Path, messages: list[Msg] | None = None) -> None:
        self.chat_dir = chat_dir
        self.write_dir = chat_dir  # point elsewhere to make saving fail for real
        self.busy = False
        self.resummarize_calls = 0
        self._messages = messages

    def messages(self) -> list[Msg] | None:
        return self._messages

    def memory(self) -> Memory:
        return load_memory(self.chat_dir)

    def save_memory(self, m: Memory) -> None:
        save_memory(self.write_dir, m)

    def resummarize(self) -> None:
        self.resummarize_calls += 1

    @property
    def memory_busy(self) -> bool:
        return self.busy


class Host(App[None]):
    CSS_PATH = str(TCSS)

    def __init__(self, controller: FolderController) -> None:
        super().__init__()
        self.controller = controller
        self.notices: list[str] = []

    def on_mount(self) -> None:
        self.push_screen(MemoryScreen(self.controller, "Harbour evenings"))

    def notify(self, message, *args, **kwargs):
        self.notices.append(f"{kwargs.get('title') or ''}|{message}")
        return super().notify(message, *args, **kwargs)


def sample() -> Memory:
    return Memory(
        summary="Mia and Sam met at the harbour café.\n\nThey planned a walk along the cliffs.",
        pinned_summary="Sam is afraid of heights.",
        facts=[
            Fact("Mia is a barista in Lisbon", "0190f3c2a1b2c3d4e00", pinned=False),
            Fact("We agreed to meet at the cabin", "0190f3c2a1b2c3d4e01", pinned=True),
            Fact("Sam likes green tea", "", pinned=False),
        ],
        folded_upto=UPTO,
    )


def setup(folder: Path, m: Memory | None = None, **kw) -> tuple[FolderController, Host]:
    chat = folder / "chat"
    chat.mkdir(parents=True)
    if m is not None:
        save_memory(chat, m)
    ctl = FolderController(chat, **kw)
    return ctl, Host(ctl)


async def opened(pilot, app: Host) -> MemoryScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen) and app.screen.ready)
    return app.screen


def on_disk(ctl: FolderController) -> Memory:
    return parse_memory(memory_path(ctl.chat_dir).read_text(encoding="utf-8"))


def fact_lines(screen: MemoryScreen) -> list[str]:
    ol = screen.query_one("#memory-facts", OptionList)
    return [str(ol.get_option_at_index(i).prompt) for i in range(ol.option_count)]


def text_of(screen: MemoryScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def status(screen: MemoryScreen) -> str:
    return text_of(screen, "#memory-status")


# --------------------------------------------------------------------------


async def test_shows_a_hand_edit_made_before_opening(tmp_path):
    ctl, app = setup(tmp_path, sample())
    path = memory_path(ctl.chat_dir)
    text = path.read_text(encoding="utf-8")
    text = text.replace("Sam is afraid of heights.", "Sam is afraid of heights.\nSam hums when nervous.")
    text = text.replace("- Sam likes green tea", "* [pinned] Sam likes jasmine tea  <!-- from: abc123 -->")
    path.write_text(text, encoding="utf-8")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        assert screen.query_one("#memory-summary", TextArea).text == sample().summary
        assert screen.query_one("#memory-pinned", TextArea).text == (
            "Sam is afraid of heights.\nSam hums when nervous."
        )
        lines = fact_lines(screen)
        assert lines[0] == "•  Mia is a barista in Lisbon  from 0190f3c2a1b2c3d4e00"
        assert lines[1].startswith("📌 We agreed to meet at the cabin")
        assert lines[2] == "📌 Sam likes jasmine tea  from abc123"
        assert f"through message {UPTO}" in text_of(screen, "#memory-reach")
        assert text_of(screen, "#memory-facts-label").startswith("Facts · 3 (2 pinned")
        assert not screen.is_dirty() and status(screen) == "saved"
        # the highlighted fact's source is also its tooltip
        assert screen.query_one("#memory-facts", OptionList).highlighted == 0
        assert screen.query_one("#memory-facts", OptionList).tooltip == "From message 0190f3c2a1b2c3d4e00"


async def test_pin_toggle_and_forget_change_the_saved_file(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        assert screen.focused is screen.query_one("#memory-facts", OptionList)
        await pilot.press("p")            # pin "Mia is a barista"
        await pilot.press("down", "p")    # unpin "We agreed to meet"
        await pilot.press("down", "d")    # forget "Sam likes green tea"
        assert screen.is_dirty() and "unsaved" in status(screen)
        assert on_disk(ctl) == sample()   # nothing written before Ctrl+S
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        saved = on_disk(ctl)
        assert saved.facts == [
            Fact("Mia is a barista in Lisbon", "0190f3c2a1b2c3d4e00", pinned=True),
            Fact("We agreed to meet at the cabin", "0190f3c2a1b2c3d4e01", pinned=False),
        ]
        assert saved.summary == sample().summary and saved.folded_upto == UPTO
        assert "|Memory saved." in app.notices
        assert memory_path(ctl.chat_dir).stat().st_mode & 0o777 == 0o600


async def test_delete_key_forgets_and_add_and_edit_facts(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        await pilot.press("delete")
        assert [f.text for f in screen.facts] == ["We agreed to meet at the cabin", "Sam likes green tea"]
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press(*"Mia  owns a red   bicycle", "enter")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.facts[-1] == Fact("Mia owns a red bicycle", "", pinned=True)
        assert screen.query_one("#memory-facts", OptionList).highlighted == 2
        await pilot.press("enter")        # edit the highlighted (new) fact
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press(*" at home", "enter")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("a")            # a duplicate is not added twice
        await wait_until(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press(*"sam likes GREEN tea!", "enter")
        await wait_until(pilot, lambda: app.screen is screen)
        assert len(screen.facts) == 3 and "|That fact is already in the list." in app.notices
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        assert [(f.text, f.pinned) for f in on_disk(ctl).facts] == [
            ("We agreed to meet at the cabin", True),
            ("Sam likes green tea", False),
            ("Mia owns a red bicycle at home", True),
        ]


async def test_editing_the_pinned_summary_and_saving_writes_it(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        pinned = screen.query_one("#memory-pinned", TextArea)
        pinned.focus()
        pinned.move_cursor(pinned.document.end)
        await pilot.press("enter", *"# Sam prefers a walk; dp")  # typed: no fact key fires
        assert [f.pinned for f in screen.facts] == [False, True, False] and len(screen.facts) == 3
        assert "unsaved" in status(screen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        saved = on_disk(ctl)
        assert saved.pinned_summary == "Sam is afraid of heights.\n# Sam prefers a walk; dp"
        assert saved.summary == sample().summary and saved.facts == sample().facts
        assert "\\# Sam prefers a walk" in memory_path(ctl.chat_dir).read_text(encoding="utf-8")


async def test_a_save_error_keeps_the_edits_and_notifies(tmp_path):
    ctl, app = setup(tmp_path, sample())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    ctl.write_dir = blocker  # memory.md would go inside a file: a real OSError
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        screen.query_one("#memory-summary", TextArea).text = "A quieter summary."
        await pilot.press("p", "ctrl+s")
        await wait_until(pilot, lambda: any(n.startswith("Memory not saved|") for n in app.notices))
        notice = next(n for n in app.notices if n.startswith("Memory not saved|"))
        assert "cannot write" in notice and "Your edits are kept." in notice
        assert app.screen is screen
        assert screen.query_one("#memory-summary", TextArea).text == "A quieter summary."
        assert screen.facts[0].pinned and screen.is_dirty()
        assert on_disk(ctl) == sample()
        ctl.write_dir = ctl.chat_dir  # fixed: the same edits now save
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        assert on_disk(ctl).summary == "A quieter summary." and on_disk(ctl).facts[0].pinned


async def test_busy_indicator_then_the_view_reloads(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        assert BUSY_TEXT not in status(screen)
        await pilot.press("r")
        assert ctl.resummarize_calls == 1
        assert BUSY_TEXT in status(screen)  # shown at once, before the work starts
        ctl.busy = True
        await pilot.pause(0.3)
        assert screen.query_one("#memory-status", Static).has_class("-busy")
        await pilot.press("r")            # a second request while busy is refused
        assert ctl.resummarize_calls == 1
        new = Memory(summary="A fresh summary of everything.", pinned_summary=sample().pinned_summary,
                     facts=sample().facts + [Fact("The cabin has a red door", "0190f3c2a1b2c3d4e02")],
                     folded_upto="0190f3c2a1b2c3d4e02")
        save_memory(ctl.chat_dir, new)
        await pilot.pause(0.6)
        assert screen.query_one("#memory-summary", TextArea).text == sample().summary  # not while busy
        assert BUSY_TEXT in status(screen)
        ctl.busy = False
        await wait_until(pilot, lambda: screen.query_one("#memory-summary", TextArea).text == new.summary)
        assert BUSY_TEXT not in status(screen) and status(screen) == "saved"
        assert len(fact_lines(screen)) == 4 and not screen.is_dirty()
        assert "0190f3c2a1b2c3d4e02" in text_of(screen, "#memory-reach")
        assert "|Memory updated." in app.notices


async def test_a_background_update_never_clobbers_unsaved_edits(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        await pilot.press("p")            # an unsaved edit
        ctl.busy = True                   # e.g. a fold after a reply
        await wait_until(pilot, lambda: BUSY_TEXT in status(screen))
        new = Memory(summary="Rewritten by the model.", pinned_summary=sample().pinned_summary,
                     facts=sample().facts + [Fact("The cabin has a red door", "0190f3c2a1b2c3d4e02")],
                     folded_upto="0190f3c2a1b2c3d4e02")
        save_memory(ctl.chat_dir, new)
        ctl.busy = False
        await wait_until(pilot, lambda: any(n.startswith("Memory updated|") for n in app.notices))
        assert screen.query_one("#memory-summary", TextArea).text == sample().summary
        assert screen.facts[0].pinned and len(screen.facts) == 3
        # saving merges: the new summary, its cut and fact, plus the user's pin
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not screen.is_dirty())
        saved = on_disk(ctl)
        assert saved.summary == new.summary and saved.folded_upto == "0190f3c2a1b2c3d4e02"
        assert [(f.text, f.pinned) for f in saved.facts] == [
            ("Mia is a barista in Lisbon", True),
            ("We agreed to meet at the cabin", True),
            ("Sam likes green tea", False),
            ("The cabin has a red door", False),
        ]
        assert screen.query_one("#memory-summary", TextArea).text == new.summary  # shown after the save


async def test_saving_over_a_conflicting_change_asks_first(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        screen.query_one("#memory-summary", TextArea).text = "My own summary."
        theirs = Memory(summary="The model's summary.", facts=sample().facts,
                        pinned_summary=sample().pinned_summary, folded_upto="0190f3c2a1b2c3d4e09")
        save_memory(ctl.chat_dir, theirs)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        assert on_disk(ctl) == theirs and screen.is_dirty()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not screen.is_dirty())
        saved = on_disk(ctl)
        # the user's summary keeps the cut it was written for
        assert saved.summary == "My own summary." and saved.folded_upto == UPTO


async def test_escape_with_unsaved_changes_asks(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        await pilot.press("d")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedChangesScreen))
        await pilot.press("c")            # cancel: back with the edits
        await wait_until(pilot, lambda: app.screen is screen)
        assert len(screen.facts) == 2 and on_disk(ctl) == sample()
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedChangesScreen))
        await pilot.press("s")            # save and close
        await wait_until(pilot, lambda: not isinstance(app.screen, (MemoryScreen, UnsavedChangesScreen)))
        assert len(on_disk(ctl).facts) == 2


async def test_escape_discard_keeps_the_file_and_a_clean_escape_just_closes(tmp_path):
    ctl, app = setup(tmp_path / "one", sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        screen.query_one("#memory-pinned", TextArea).text = "Something else"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, UnsavedChangesScreen))
        await pilot.press("d")
        await wait_until(pilot, lambda: not isinstance(app.screen, (MemoryScreen, UnsavedChangesScreen)))
        assert on_disk(ctl) == sample()
    ctl, app = setup(tmp_path / "two", sample())
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, MemoryScreen))
        assert not any(isinstance(s, UnsavedChangesScreen) for s in app.screen_stack)


async def test_empty_memory_and_reach_with_messages(tmp_path):
    msgs = [Msg(f"0190f3c2a1b2c3d4e0{i}", "Mia" if i % 2 else "Sam", f"line {i}") for i in range(6)]
    ctl, app = setup(tmp_path, None, messages=msgs)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        assert "Nothing is folded yet" in text_of(screen, "#memory-reach")
        assert "none yet" in text_of(screen, "#memory-facts-label")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, MemoryScreen))
        assert not memory_path(ctl.chat_dir).exists()  # nothing written when nothing changed
    save_memory(ctl.chat_dir, Memory(summary="Early days.", facts=[Fact("Sam sails", msgs[1].id)],
                                     folded_upto=msgs[3].id))
    app = Host(ctl)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        reach = text_of(screen, "#memory-reach")
        assert reach.startswith("The summary covers 4 of 6 messages") and "the last 2 messages are" in reach
        tip = screen.query_one("#memory-facts", OptionList).tooltip
        assert tip == "From message 0190f3c2a1b2c3d4e01\nMia: line 1"


async def test_an_unreadable_memory_file_is_reported_and_the_screen_closes(tmp_path):
    ctl, app = setup(tmp_path, None)
    memory_path(ctl.chat_dir).write_text("<!-- candlelit memory v9 -->\n# Summary\nFuture.\n", encoding="utf-8")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any(n.startswith("Cannot open the memory|") for n in app.notices))
        await wait_until(pilot, lambda: not isinstance(app.screen, MemoryScreen))
    assert "newer Candlelit" in next(n for n in app.notices if n.startswith("Cannot open"))
    assert "Future." in memory_path(ctl.chat_dir).read_text(encoding="utf-8")


def test_every_binding_has_a_description_and_an_id():
    for cls in (MemoryScreen, UnsavedChangesScreen):
        for b in cls.BINDINGS:
            assert b.description and b.id and b.id.split(".")[0] in ("memory", "unsaved")
    keys = {b.key: b.action for b in MemoryScreen.BINDINGS}
    assert keys["p"] == "toggle_pin" and keys["d,delete"] == "forget_fact" and keys["ctrl+s"] == "save"
    assert keys["r"] == "resummarize" and keys["a"] == "add_fact" and keys["escape"] == "back"


def test_fact_prompt_neutralizes_control_characters():
    text = fact_prompt(Fact("Bell\x07 rings", "", pinned=True)).plain
    assert "\x07" not in text and text.startswith("📌 Bell")


async def test_a_click_highlights_a_fact_without_opening_the_editor(tmp_path):
    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, app)
        facts = screen.query_one("#memory-facts", OptionList)
        await pilot.click("#memory-facts", offset=(4, 2))  # the border, then the second fact
        await pilot.pause()
        assert facts.highlighted == 1 and app.screen is screen
        await pilot.press("p")
        assert [f.pinned for f in screen.facts] == [False, False, False]


async def test_the_help_screen_lists_the_memory_keys(tmp_path):
    from tui.ui.screens.help import HelpScreen

    ctl, app = setup(tmp_path, sample())
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, app)
        await app.push_screen(HelpScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.query("#help Static"))
        text = str(app.screen.query_one("#help Static", Static).render())
        for words in ("Save memory", "Re-summarize", "Add fact", "Pin / unpin fact", "Forget fact", "Edit fact"):
            assert words in text
        assert "d / del " in text  # both keys of "Forget fact"
