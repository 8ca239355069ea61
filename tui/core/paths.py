"""Where Candlelit keeps things (data, config, cache). One module, platformdirs
underneath; nothing is created at import time.

See docs/ARCHITECTURE.md#the-bottom-floor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "candlelit"


@dataclass(frozen=True)
class Paths:
    home: Path
    config_file: Path
    cache: Path

    @property
    def state_file(self) -> Path:
        """Settings the app itself changes (tomli-w), never the user's config."""
        return self.home / "state.toml"

    @property
    def profiles(self) -> Path:
        return self.home / "profiles"

    def profile(self, name: str) -> Path:
        return self.profiles / name

    @property
    def models(self) -> Path:
        return self.cache / "models"


def resolve(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("CANDLELIT_HOME") or platformdirs.user_data_dir(APP, appauthor=False)
    config = env.get("CANDLELIT_CONFIG") or str(
        Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml"
    )
    cache = env.get("CANDLELIT_CACHE") or platformdirs.user_cache_dir(APP, appauthor=False)
    return Paths(
        home=Path(home).expanduser(),
        config_file=Path(config).expanduser(),
        cache=Path(cache).expanduser(),
    )
