"""The core's public API: what ``tui.ui`` (and ``tui.cli``) may use.

The UI imports from here only (``from tui.core import Session``), never
from a ``tui.core.<package>`` module; ``tests/test_import_hygiene.py``
holds it to that. Plain data and functions only: no Textual, and no
llama.cpp at import time (the engine loads it on ``load()``).

Names load on first use: importing every core module up front costs
~180 ms, which each CLI command (and ``import tui.core.paths``) would
pay. ``_EXPORTS`` is the table the runtime reads; the ``TYPE_CHECKING``
block says the same to type checkers, and the hygiene test holds the two
equal. See docs/ARCHITECTURE.md for what each package does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.cards.adult_guard import ContentRefused, guard_card
    from tui.core.cards.card import Card, CardError, card_to_json, save_card_file, slugify
    from tui.core.cards.card_json import check_card_limits
    from tui.core.cards.library import (
        EXPORT_FORMATS,
        ImportResult,
        avatar_path,
        export_card,
        import_card_file,
        save_character,
    )
    from tui.core.chat.events import (
        Impersonation,
        NothingToContinue,
        ReplyDone,
        ScenePaused,
        ScenePausedError,
        SessionBusy,
        SessionError,
        SlowDown,
        SpeakerStarted,
    )
    from tui.core.chat.session import Session
    from tui.core.config.schema import Config
    from tui.core.engine.api import (
        Chunk,
        Engine,
        EngineError,
        Finished,
        GenerationRequest,
        ModelInfo,
        Sampling,
        StreamEvent,
    )
    from tui.core.engine.gguf import ModelFileError
    from tui.core.engine.settings import EngineSettings
    from tui.core.errors import CandlelitError
    from tui.core.fsio import DIR_MODE, ensure_dir, is_sealed, write_outside
    from tui.core.lore.book import DEFAULT_INSERTION_ORDER, Lorebook, LoreEntry, LoreError
    from tui.core.lore.codec import book_to_dict
    from tui.core.lore.parse import parse_book
    from tui.core.memory.document import Fact, Memory, render_memory
    from tui.core.memory.fold import fact_key, window_start
    from tui.core.memory.merge import merge_memory, same_memory
    from tui.core.memory.upkeep import progress_bar, progress_text
    from tui.core.privacy.tripwire import Hit, scan
    from tui.core.privacy.vault import Vault, VaultError, WrongPassphrase, is_encrypted, unlock
    from tui.core.profile.chat_export import export_chat, export_name
    from tui.core.profile.personas import (
        PersonaError,
        PersonaProfile,
        add_persona,
        list_personas,
        remove_persona,
        update_persona,
    )
    from tui.core.profile.profiles import (
        ProfileError,
        ProfileExists,
        ProfileInfo,
        check_name,
        create_profile,
        delete_profile,
        deletion_caveat,
        list_profiles,
        profile_info,
        read_reminders,
        rename_profile,
        save_reminders,
        set_shared,
        usage_file,
    )
    from tui.core.profile.st_import import import_st_chat
    from tui.core.profile.usage_stats import (
        DayStats,
        ReminderSettings,
        StatsError,
        daily,
        record_session,
        reminder_due,
    )
    from tui.core.profile.workspace import CardEntry, CharacterNotFound, Persona, Workspace
    from tui.core.safe_text import neutralize
    from tui.core.scene.ideas import (
        THEMES,
        IdeasCancelled,
        IdeasError,
        generate_ideas,
        load_ideas,
        new_scene_chat,
        remove_idea,
        save_idea,
    )
    from tui.core.scene.rehearsal import COACH, Line, Rehearsal, feedback, feedback_prompt, partner_reply
    from tui.core.scene.rules import (
        POLICIES,
        SceneError,
        SceneSettings,
        boundaries_text,
        is_ooc,
        is_safeword,
        load_scene_settings,
        next_persona,
        persona_by_number,
    )
    from tui.core.storage.errors import StoreError
    from tui.core.storage.model import ChatInfo, Message


# where each public name lives: package module (under tui.core) -> names
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": ("CandlelitError",),
    "fsio": ("DIR_MODE", "ensure_dir", "is_sealed", "write_outside"),
    "safe_text": ("neutralize",),
    "storage.errors": ("StoreError",),
    "storage.model": ("ChatInfo", "Message"),
    "config.schema": ("Config",),
    "engine.gguf": ("ModelFileError",),
    "engine.api": (
        "Chunk", "Engine", "EngineError", "Finished", "GenerationRequest", "ModelInfo", "Sampling", "StreamEvent",
    ),
    "engine.settings": ("EngineSettings",),
    "privacy.tripwire": ("Hit", "scan"),
    "privacy.vault": ("Vault", "VaultError", "WrongPassphrase", "is_encrypted", "unlock"),
    "cards.adult_guard": ("ContentRefused", "guard_card"),
    "cards.card": ("Card", "CardError", "card_to_json", "save_card_file", "slugify"),
    "cards.card_json": ("check_card_limits",),
    "cards.library": ("EXPORT_FORMATS", "ImportResult", "avatar_path", "export_card", "import_card_file", "save_character"),
    "lore.book": ("DEFAULT_INSERTION_ORDER", "LoreEntry", "Lorebook", "LoreError"),
    "lore.codec": ("book_to_dict",),
    "lore.parse": ("parse_book",),
    "scene.ideas": ("THEMES", "IdeasCancelled", "IdeasError", "generate_ideas", "load_ideas", "new_scene_chat", "remove_idea", "save_idea"),
    "scene.rehearsal": ("COACH", "Line", "Rehearsal", "feedback", "feedback_prompt", "partner_reply"),
    "scene.rules": ("POLICIES", "SceneError", "SceneSettings", "boundaries_text", "is_ooc", "is_safeword", "load_scene_settings", "next_persona", "persona_by_number"),
    "memory.document": ("Fact", "Memory", "render_memory"),
    "memory.fold": ("fact_key", "window_start"),
    "memory.upkeep": ("progress_bar", "progress_text"),
    "profile.personas": ("PersonaError", "PersonaProfile", "add_persona", "list_personas", "remove_persona", "update_persona"),
    "profile.profiles": ("ProfileError", "ProfileExists", "ProfileInfo", "check_name", "create_profile", "delete_profile", "deletion_caveat", "list_profiles", "profile_info", "read_reminders", "rename_profile", "save_reminders", "set_shared", "usage_file"),
    "profile.chat_export": ("export_chat", "export_name"),
    "profile.st_import": ("import_st_chat",),
    "profile.usage_stats": ("DayStats", "ReminderSettings", "StatsError", "daily", "record_session", "reminder_due"),
    "profile.workspace": ("CardEntry", "CharacterNotFound", "Persona", "Workspace"),
    "chat.events": ("Impersonation", "NothingToContinue", "ReplyDone", "ScenePaused", "ScenePausedError", "SessionBusy", "SessionError", "SlowDown", "SpeakerStarted"),
    "chat.session": ("Session",),
    "memory.merge": ("merge_memory", "same_memory"),
}

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found once; later look-ups are plain
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
