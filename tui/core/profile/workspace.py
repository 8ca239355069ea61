"""One profile's world: its characters, chats, persona and model settings.

The CLI and the TUI both start here. Nothing happens at construction; files
are created when something is first written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.core.cards.card import Card, CardError, load_card_file, save_card_file, starter_cards
from tui.core.cards.library import ImportResult, avatar_path, export_card, import_card_file, save_character
from tui.core.cards.macros import expand
from tui.core.config.load import replace as with_settings
from tui.core.config.schema import Config
from tui.core.engine.api import Engine, Sampling
from tui.core.engine.model_files import resolve_model_path
from tui.core.engine.open import open_engine, server_settings
from tui.core.engine.settings import EngineSettings
from tui.core.errors import CandlelitError
from tui.core.lore.book import Lorebook, LoreError
from tui.core.lore.codec import books_from, load_book_file, save_book_file
from tui.core.memory.document import carry_over, load_memory, save_memory
from tui.core.paths import Paths
from tui.core.privacy.sealed_fs import SealedFS
from tui.core.privacy.vault import Vault, is_encrypted
from tui.core.profile.personas import (
    PersonaError,
    PersonaProfile,
    add_persona,
    list_personas,
    remove_persona,
    update_persona,
)
from tui.core.profile.profiles import check_name, read_reminders, save_reminders, usage_file
from tui.core.profile.usage_stats import (
    DayStats,
    ReminderSettings,
    StatsError,
    daily,
    messages_sent_since,
    record_session,
)
from tui.core.scene.ideas import SavedIdea, load_ideas, remove_idea, save_idea
from tui.core.scene.rules import SceneError, SceneSettings, scene_settings_to_toml
from tui.core.storage.locks import ProfileHold, hold_profile, write_lock_path
from tui.core.storage.model import ChatInfo, LoadReport, Message, check_id
from tui.core.storage.store import Store

NARRATOR_NAME = "Narrator"  # the narrator voice of a scene (chat.toml [scene] narrator)


class CharacterNotFound(CandlelitError):
    pass


def _check_unique_names(names: Sequence[str]) -> None:
    """Participants must have different names: a name starts transcript
    lines and stop strings, so two "Mara"s could answer for each other."""
    seen: dict[str, str] = {}
    for name in names:
        key = " ".join(name.split()).casefold()
        if key in seen:
            raise SceneError(
                f"two participants are both called {name!r}; every person, character "
                "and the narrator needs a different name"
            )
        seen[key] = name


@dataclass(frozen=True)
class Persona:
    name: str
    description: str = ""


@dataclass(frozen=True)
class CardEntry:
    slug: str
    card: Card
    path: Path


class Workspace:
    """One profile. A plain profile is a folder of plain files; an encrypted
    one is seen through :class:`~tui.core.privacy.sealed_fs.SealedFS` once ``vault``
    (its unlocked key) is given. Without it an encrypted profile stays
    locked: nothing of it can be read, and nothing is written in plain."""

    def __init__(self, paths: Paths, config: Config, *, vault: Vault | None = None) -> None:
        self.paths = paths
        self.config = config
        self.profile_name = check_id(config.chat.profile, "profile name")
        self.profile_dir = paths.profile(self.profile_name)
        self.sealed: SealedFS | None = None
        writing = write_lock_path(self.profile_dir)
        if vault is not None or is_encrypted(self.profile_dir):
            self.sealed = SealedFS(vault, self.profile_dir)
            self.store = Store(self.sealed.root, writing)
        else:
            self.store = Store(self.profile_dir, writing)
        self.problems: list[str] = []

    @property
    def encrypted(self) -> bool:
        return self.sealed is not None

    def hold(self) -> ProfileHold:
        """Hold this profile for as long as it is in use (the app, a command):
        another process cannot convert, rename or delete it meanwhile.
        ``ProfileBusy`` while another process is converting it."""
        return hold_profile(self.profile_dir)

    @property
    def locked(self) -> bool:
        """True for an encrypted profile whose key is not open."""
        return self.sealed is not None and self.sealed.locked

    def for_profile(self, name: str) -> Workspace:
        """The same paths and settings opened on profile ``name`` (locked
        when it is encrypted); ``name`` is checked first."""
        check_name(name)
        return Workspace(self.paths, with_settings(self.config, chat={"profile": name}))

    def unlocked(self, vault: Vault) -> Workspace:
        """The same profile and settings, opened with ``vault``."""
        return Workspace(self.paths, self.config, vault=vault)

    def lock(self) -> None:
        """Drop the key (an encrypted profile reads as locked from now on)."""
        if self.sealed is not None:
            self.sealed.lock()

    # -- persona ------------------------------------------------------------
    def persona(self) -> Persona:
        data = self.store.load_profile({"name": self.config.chat.user_name})
        p = data["persona"]
        return Persona(str(p.get("name") or self.config.chat.user_name), str(p.get("description", "")))

    # -- tripwire -------------------------------------------------------------
    def tripwire_names(self) -> tuple[str, ...]:
        """Real names the tripwire catches: ``[privacy] deny_names`` (plain
        config) and this profile's own list, kept in its profile.toml, which
        an encrypted profile stores encrypted: the place for real names."""
        own = self.store.load_profile({"name": self.config.chat.user_name}).get("tripwire", {})
        names = own.get("names", []) if isinstance(own, dict) else []
        mine = tuple(n for n in names if isinstance(n, str) and n.strip())
        return tuple(dict.fromkeys((*self.config.privacy.deny_names, *mine)))

    def set_tripwire_names(self, names: Sequence[str]) -> tuple[str, ...]:
        """Replace this profile's own tripwire names; returns them."""
        clean = tuple(dict.fromkeys(" ".join(n.split()) for n in names if n.strip()))
        with self.store.writing():
            data = self.store.load_profile({"name": self.config.chat.user_name})
            data["tripwire"] = {"names": list(clean)}
            self.store.save_profile(data)
        return clean

    # -- characters ---------------------------------------------------------
    def install_starters(self) -> None:
        """Copy the shipped starter characters in once. A starter the user
        deleted stays deleted (remembered in profile.toml)."""
        profile = self.store.load_profile({"name": self.config.chat.user_name})
        done = set(profile.get("starters_installed", []))
        added = False
        for slug, card in starter_cards():
            if slug in done:
                continue
            target = self.store.character_dir(slug) / "card.json"
            if not target.exists():
                save_card_file(target, card)
            done.add(slug)
            added = True
        if added:
            profile["starters_installed"] = sorted(done)
            self.store.save_profile(profile)

    def cards(self) -> list[CardEntry]:
        self.install_starters()
        out: list[CardEntry] = []
        self.problems = []
        root = self.store.characters_dir
        if not root.is_dir():
            return out
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            path = folder / "card.json"
            if not path.is_file():
                continue
            try:
                out.append(CardEntry(folder.name, load_card_file(path), path))
            except CardError as exc:
                self.problems.append(str(exc))
        return out

    def card(self, slug: str) -> CardEntry:
        check_id(slug, "character")
        self.install_starters()
        path = self.store.character_dir(slug) / "card.json"
        if not path.is_file():
            raise CharacterNotFound(
                f"no character '{slug}' (see `candlelit card list`)"
            )
        return CardEntry(slug, load_card_file(path), path)

    # -- lorebooks ------------------------------------------------------------
    @property
    def lorebook_dir(self) -> Path:
        return self.store.root / "lorebooks"

    def standalone_books(self) -> list[tuple[str, Lorebook]]:
        """Imported lorebooks (profile-wide: active in every chat)."""
        out: list[tuple[str, Lorebook]] = []
        if self.lorebook_dir.is_dir():
            for path in sorted(self.lorebook_dir.glob("*.json")):
                try:
                    out.append((path.stem, load_book_file(path)))
                except LoreError as exc:
                    self.problems.append(str(exc))
        return out

    def lorebooks(self, entry: CardEntry) -> list[Lorebook]:
        """The books a chat with this character scans: its own, then the profile's."""
        return books_from([entry.card.character_book, *(b for _slug, b in self.standalone_books())])

    def import_lorebook(self, path: Path) -> tuple[str, Lorebook]:
        from tui.core.cards.card import slugify

        book = load_book_file(path)
        base = slugify(book.name or Path(path).stem)
        slug, n = base, 2
        while (self.lorebook_dir / f"{slug}.json").exists():
            slug, n = f"{base}-{n}", n + 1
        save_book_file(self.lorebook_dir / f"{slug}.json", book)
        return slug, book

    # -- chats --------------------------------------------------------------
    def new_chat(
        self,
        slug: str | Sequence[str],
        title: str = "",
        *,
        personas: Sequence[str] | None = None,
        narrator: bool = False,
        carry_memory: bool = False,
        settings: SceneSettings | None = None,
    ) -> ChatInfo:
        """A new chat with the first character's greeting.

        ``slug``: one character, or several for a group scene (chat order =
        speaking order for round robin). ``personas``: the profile personas
        who take part (default: the profile's persona); each must exist in
        profile.toml. ``narrator`` adds the narrator voice. ``settings``: the
        scene's turn policy and signal words (defaults otherwise). Every
        participant needs a different name (names start transcript lines).

        ``carry_memory``: start with the summary, pinned text and facts of the
        most recent chat with these characters that has any (nothing of that
        chat's window comes along).
        """
        slugs = [slug] if isinstance(slug, str) else list(slug)
        if not slugs:
            raise SceneError("a chat needs at least one character")
        entries = [self.card(s) for s in slugs]
        if personas is None:
            names = [self.persona().name]
        else:
            known = list_personas(self.store, self.config.chat.user_name)
            names = []
            for wanted in personas:
                key = " ".join(str(wanted).split()).casefold()
                match = next((p for p in known if p.name.casefold() == key), None)
                if match is None:
                    listed = ", ".join(p.name for p in known)
                    raise PersonaError(
                        f"no persona named {wanted!r} (personas: {listed}; add one with "
                        "`candlelit persona add NAME`)"
                    )
                names.append(match.name)
            if not names:
                raise SceneError("a chat needs at least one persona")
        scene_settings = settings or SceneSettings()
        if narrator and not scene_settings.narrator:
            scene_settings = replace(scene_settings, narrator=True)
        if len(set(slugs)) != len(slugs):
            raise SceneError("each character can join a chat only once")
        if len(entries) > 1 or len(names) > 1 or scene_settings.narrator:  # a group scene
            _check_unique_names(
                [*names, *(e.card.display_name for e in entries),
                 *([NARRATOR_NAME] if scene_settings.narrator else [])]
            )
        first = entries[0]
        source = None
        if carry_memory:
            for c in self.store.list_chats():  # most recent first
                if all(s in c.characters for s in slugs) and not load_memory(c.path).is_empty:
                    source = load_memory(c.path)
                    break
        default_title = " & ".join(e.card.display_name for e in entries)
        info = self.store.new_chat(
            slugs, names, title or default_title, scene=scene_settings_to_toml(scene_settings)
        )
        if source is not None:
            save_memory(info.path, carry_over(source))
        greeting = first.card.first_mes.strip()
        if greeting:
            text = expand(greeting, {"char": first.card.display_name, "user": names[0]})
            self.store.append(info.id, Message.new(first.card.display_name, "assistant", text))
        return info

    # -- model --------------------------------------------------------------
    # -- the chats, as the screens read them (plain calls on the store) ------
    def chats(self) -> list[ChatInfo]:
        """Every chat of the profile, the latest first."""
        return self.store.list_chats()

    def chat(self, chat_id: str) -> ChatInfo:
        return self.store.chat(chat_id)

    def check_chat(self, chat_id: str) -> LoadReport:
        """Set aside torn lines of an interrupted write; the report names them."""
        return self.store.check(chat_id)

    def message_count(self, chat_id: str) -> int:
        """From the index header: never reads the whole chat."""
        return self.store.count(chat_id)

    def page(self, chat_id: str, start: int, stop: int) -> list[Message]:
        """Messages ``start``..``stop`` (positions) of a chat."""
        return self.store.page(chat_id, start, stop)

    def tail(self, chat_id: str, n: int) -> tuple[list[Message], int]:
        """The last ``n`` messages and the position of the first of them."""
        return self.store.tail(chat_id, n)

    def search_positions(self, chat_id: str, query: str) -> list[tuple[int, Message, list[tuple[int, int]]]]:
        return self.store.search_positions(chat_id, query)

    def rename_chat(self, chat_id: str, title: str) -> None:
        self.store.rename_chat(chat_id, title)

    def delete_chat(self, chat_id: str) -> None:
        self.store.delete_chat(chat_id)

    def folder_counts(self) -> tuple[int, int]:
        """How many chats and characters the profile holds (folders on disk)."""

        def folders(root: Path) -> int:
            return sum(1 for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else 0

        return folders(self.store.chats_dir), folders(self.store.characters_dir)

    # -- characters, personas and saved ideas ------------------------------------
    def import_card(self, path: Path) -> ImportResult:
        return import_card_file(self.store, path)

    def save_character(self, card: Card, slug: str | None = None) -> str:
        """Check and save a hand-made card; see ``cards.library.save_character``."""
        return save_character(self.store, card, slug)

    def avatar_path(self, slug: str) -> Path | None:
        return avatar_path(self.store, slug)

    def export_card(self, slug: str, fmt: str, out: Path) -> list[str]:
        return export_card(self.store, slug, fmt, out)

    def persona_profiles(self) -> list[PersonaProfile]:
        """Every persona of the profile, the default one first."""
        return list_personas(self.store, self.config.chat.user_name)

    def add_persona(self, persona: PersonaProfile) -> None:
        add_persona(self.store, persona, self.config.chat.user_name)

    def update_persona(self, persona: PersonaProfile, old_name: str | None = None) -> None:
        update_persona(self.store, persona, old_name, self.config.chat.user_name)

    def remove_persona(self, name: str) -> PersonaProfile:
        return remove_persona(self.store, name, self.config.chat.user_name)

    def saved_ideas(self) -> list[SavedIdea]:
        return load_ideas(self.store.root)

    def save_idea(self, text: str, themes: Sequence[str] = ()) -> list[SavedIdea]:
        return save_idea(self.store.root, text, themes)

    def remove_idea(self, text: str) -> list[SavedIdea]:
        return remove_idea(self.store.root, text)

    # -- local usage stats and reminders (never sent anywhere) ---------------
    def record_usage(self, start: datetime, end: datetime) -> None:
        """Append one session (its times and how many messages you sent) to
        the profile's stats, when they are on; best effort, never raises.
        A session under a minute with nothing sent is not worth a line."""
        if not self.config.privacy.usage_stats or not self.store.root.is_dir():
            return
        sent = messages_sent_since(self.store, start)
        if sent == 0 and (end - start).total_seconds() < 60:
            return
        try:
            record_session(usage_file(self.store.root), start, end, sent)
        except (StatsError, OSError):
            pass  # stats are best effort; never in the way of quitting

    def usage_days(self) -> list[DayStats]:
        """The recorded usage, one entry per day. Raises ``StatsError``."""
        return daily(usage_file(self.store.root))

    def reminders(self) -> dict[str, Any]:
        """This profile's reminder choices over the ``[privacy]`` defaults."""
        return read_reminders(self.store.root, self.config.privacy)

    def reminder_settings(self) -> ReminderSettings:
        """The reminders as settings; off when they cannot be read."""
        try:
            return ReminderSettings.from_mapping(self.reminders())
        except (StatsError, OSError):  # OSError: a locked or damaged profile
            return ReminderSettings()

    def save_reminders(self, *, session_minutes: int, late_night: bool) -> None:
        """Store this profile's reminder choice. Raises ``ProfileError``/``OSError``."""
        save_reminders(self.store.root, session_minutes=session_minutes, late_night=late_night)

    def model_path(
        self, override: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Path:
        configured = override or self.config.model.path or None
        return resolve_model_path(configured, self.paths.models, progress)

    def engine_settings(self, model_path: Path, *, vocab_only: bool = False) -> EngineSettings:
        m = self.config.model
        return EngineSettings(
            model_path=model_path,
            n_ctx=m.n_ctx,
            n_gpu_layers=m.n_gpu_layers,
            n_threads=m.n_threads,
            n_threads_batch=m.n_threads_batch,
            n_batch=m.n_batch,
            flash_attn=m.flash_attn,
            vocab_only=vocab_only,
            context_shift=self.config.memory.context_shift != "off",
        )

    def connect_engine(
        self,
        override: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        *,
        vocab_only: bool = False,
    ) -> Engine:
        """The engine this profile is set up for: the local model (``override``,
        else the configured or bundled one), or the user's own server
        (``[engine] kind``), which then also tokenizes."""
        if self.config.engine.kind != "local":
            return open_engine(server_settings(self.config.engine), n_ctx=self.config.model.n_ctx)
        return self.open_engine(self.model_path(override, progress), vocab_only=vocab_only)

    def open_engine(self, model_path: Path, *, vocab_only: bool = False) -> Engine:
        """The model at ``model_path``, loaded with this profile's settings
        (blocks while it loads; ``vocab_only``: the tokenizer alone)."""
        return open_engine(self.engine_settings(model_path, vocab_only=vocab_only))

    def sampling(self, *, seed: int | None = None, max_tokens: int | None = None) -> Sampling:
        s = self.config.sampling
        return Sampling(
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            min_p=s.min_p,
            repeat_penalty=s.repeat_penalty,
            seed=s.seed if seed is None else seed,
            max_tokens=s.max_tokens if max_tokens is None else max_tokens,
        )
