"""The core's public API: what ``tui.ui`` and ``tui.cli`` may use.

The UI and the CLI import from here only (``from tui.core import Session``),
never from a ``tui.core.<package>`` module; ``tests/test_import_hygiene.py``
holds it to that. Plain data and functions only: no Textual, and no
llama.cpp at import time (the engine loads it on ``load()``).

Names load on first use: importing every core module up front costs
~180 ms, which each CLI command (and ``import tui.core.paths``) would
pay. ``_EXPORTS`` is the table the runtime reads (``_RENAMED`` for the
odd name two core modules share); the ``TYPE_CHECKING`` block says the
same to type checkers, and the hygiene test holds the two equal. See
docs/ARCHITECTURE.md for what each package does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.core.cards.adult_guard import ContentRefused, guard_card
    from tui.core.cards.card import (
        Card,
        CardError,
        card_to_json,
        card_to_v3,
        save_card_file,
        slugify,
    )
    from tui.core.cards.card_json import check_card_limits
    from tui.core.cards.library import (
        EXPORT_FORMATS,
        ImportResult,
        avatar_path,
        delete_character,
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
        is_signal,
        message_kind,
    )
    from tui.core.chat.session import Session
    from tui.core.config.load import load_config, replace
    from tui.core.config.schema import Config
    from tui.core.config.state import update_state
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
    from tui.core.engine.model_files import text_progress
    from tui.core.engine.settings import EngineSettings
    from tui.core.errors import CandlelitError
    from tui.core.fsio import DIR_MODE, ensure_dir, is_sealed, write_outside
    from tui.core.lore.book import (
        DEFAULT_INSERTION_ORDER,
        Lorebook,
        LoreEntry,
        LoreError,
    )
    from tui.core.lore.codec import book_to_dict
    from tui.core.lore.parse import parse_book
    from tui.core.memory.document import Fact, Memory, render_memory
    from tui.core.memory.fold import fact_key, window_start
    from tui.core.memory.kv_state import saved_tokens
    from tui.core.memory.merge import merge_memory, same_memory
    from tui.core.memory.upkeep import progress_bar, progress_text
    from tui.core.paths import resolve
    from tui.core.privacy.convert import recover
    from tui.core.privacy.hardening import no_core_dumps
    from tui.core.privacy.strength import passphrase_hint
    from tui.core.privacy.tripwire import Hit, scan
    from tui.core.privacy.vault import (
        Vault,
        VaultError,
        WrongPassphrase,
        change_passphrase,
        is_encrypted,
        unlock,
    )
    from tui.core.profile.chat_export import EXPORT_FORMATS as CHAT_EXPORT_FORMATS
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
        decrypt_profile,
        delete_profile,
        deletion_caveat,
        encrypt_profile,
        list_profiles,
        plain_data_files,
        profile_info,
        read_reminders,
        rename_profile,
        save_reminders,
        set_shared,
        usage_file,
    )
    from tui.core.profile.st_import import import_st_chat
    from tui.core.profile.st_read import ChatFileError
    from tui.core.profile.usage_stats import (
        DayStats,
        ReminderSettings,
        StatsError,
        daily,
        record_session,
        reminder_due,
    )
    from tui.core.profile.workspace import (
        CardEntry,
        CharacterNotFound,
        Persona,
        Workspace,
    )
    from tui.core.safe_text import json_safe, neutralize
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
    from tui.core.scene.rehearsal import (
        COACH,
        Line,
        Rehearsal,
        feedback,
        feedback_prompt,
        partner_reply,
    )
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
        scene_settings_to_toml,
        strip_ooc,
    )
    from tui.core.storage.errors import StoreError
    from tui.core.storage.locks import ProfileBusy, hold_profile
    from tui.core.storage.model import ChatInfo, Message, check_id


# where each public name lives: package module (under tui.core) -> names
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": ("CandlelitError",),
    "fsio": ("DIR_MODE", "ensure_dir", "is_sealed", "write_outside"),
    "paths": ("resolve",),
    "privacy.hardening": ("no_core_dumps",),
    "privacy.strength": ("passphrase_hint",),
    "safe_text": ("json_safe", "neutralize"),
    "storage.errors": ("StoreError",),
    "storage.locks": ("ProfileBusy", "hold_profile"),
    "storage.model": ("ChatInfo", "Message", "check_id"),
    "config.load": ("load_config", "replace"),
    "config.schema": ("Config",),
    "config.state": ("update_state",),
    "engine.gguf": ("ModelFileError",),
    "engine.model_files": ("text_progress",),
    "engine.api": (
        "Chunk", "Engine", "EngineError", "Finished", "GenerationRequest", "ModelInfo", "Sampling", "StreamEvent",
    ),
    "engine.settings": ("EngineSettings",),
    "privacy.tripwire": ("Hit", "scan"),
    "privacy.convert": ("recover",),
    "privacy.vault": ("Vault", "VaultError", "WrongPassphrase", "change_passphrase", "is_encrypted", "unlock"),
    "cards.adult_guard": ("ContentRefused", "guard_card"),
    "cards.card": ("Card", "CardError", "card_to_json", "card_to_v3", "save_card_file", "slugify"),
    "cards.card_json": ("check_card_limits",),
    "cards.library": (
        "EXPORT_FORMATS", "ImportResult", "avatar_path", "delete_character", "export_card", "import_card_file",
        "save_character",
    ),
    "lore.book": ("DEFAULT_INSERTION_ORDER", "LoreEntry", "Lorebook", "LoreError"),
    "lore.codec": ("book_to_dict",),
    "lore.parse": ("parse_book",),
    "scene.ideas": (
        "THEMES", "IdeasCancelled", "IdeasError", "generate_ideas", "load_ideas", "new_scene_chat", "remove_idea",
        "save_idea",
    ),
    "scene.rehearsal": ("COACH", "Line", "Rehearsal", "feedback", "feedback_prompt", "partner_reply"),
    "scene.rules": (
        "POLICIES", "SceneError", "SceneSettings", "boundaries_text", "is_ooc", "is_safeword", "load_scene_settings",
        "next_persona", "persona_by_number", "scene_settings_to_toml", "strip_ooc",
    ),
    "memory.document": ("Fact", "Memory", "render_memory"),
    "memory.fold": ("fact_key", "window_start"),
    "memory.kv_state": ("saved_tokens",),
    "memory.upkeep": ("progress_bar", "progress_text"),
    "profile.personas": (
        "PersonaError", "PersonaProfile", "add_persona", "list_personas", "remove_persona", "update_persona",
    ),
    "profile.profiles": (
        "ProfileError", "ProfileExists", "ProfileInfo", "check_name", "create_profile", "decrypt_profile",
        "delete_profile", "deletion_caveat", "encrypt_profile", "list_profiles", "plain_data_files", "profile_info",
        "read_reminders", "rename_profile", "save_reminders", "set_shared", "usage_file",
    ),
    "profile.chat_export": ("export_chat", "export_name"),
    "profile.st_import": ("import_st_chat",),
    "profile.st_read": ("ChatFileError",),
    "profile.usage_stats": ("DayStats", "ReminderSettings", "StatsError", "daily", "record_session", "reminder_due"),
    "profile.workspace": ("CardEntry", "CharacterNotFound", "Persona", "Workspace"),
    "chat.events": (
        "Impersonation", "NothingToContinue", "ReplyDone", "ScenePaused", "ScenePausedError", "SessionBusy",
        "SessionError", "SlowDown", "SpeakerStarted", "is_signal", "message_kind",
    ),
    "chat.session": ("Session",),
    "memory.merge": ("merge_memory", "same_memory"),
}

# a name two modules both use, exported here under a distinct public one:
# public name -> (package module, its name there)
_RENAMED: dict[str, tuple[str, str]] = {
    "CHAT_EXPORT_FORMATS": ("profile.chat_export", "EXPORT_FORMATS"),  # cards.library has EXPORT_FORMATS
}

_HOME = {name: (module, name) for module, names in _EXPORTS.items() for name in names} | _RENAMED

__all__ = sorted(_HOME)  # built from the table; the hygiene test checks it


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = home
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value  # found once; later look-ups are plain
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
