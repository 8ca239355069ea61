"""``candlelit doctor``: what Candlelit uses on this machine, and what is wrong.

Reports the data, config and cache locations; permission problems under the
data folder (every folder should be 0700 and every file 0600, owned by the
user); whether the profile exists, is encrypted, is shared; the model, where
its path came from and whether llama.cpp loads it (vocabulary only, which is
quick); GPU offload in this llama.cpp build; and the network: none is used.
That last line is backed by checks, not just printed: no network client
library is loaded in this process, and Textual's devtools (which talk to a
local console over a socket) are off.

Nothing here writes, except that a missing bundled default model is
assembled into the cache exactly as the first run would do.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.core import (
    EngineError,
    ModelFileError,
    ProfileError,
    Workspace,
    plain_data_files,
    profile_info,
)

__all__ = [
    "NETWORK_MODULES",
    "DoctorReport",
    "diagnose",
    "gpu_offload_available",
    "loaded_network_modules",
    "permission_problems",
]

DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_LISTED = 20

# Modules that open network connections (or, for tiktoken and
# huggingface_hub, download files; for webbrowser, hand a link to a browser)
# if used. Candlelit imports none of them; `doctor` and the tests check that
# none is loaded.
NETWORK_MODULES = (
    "requests",
    "urllib3",
    "httpx",
    "aiohttp",
    "tiktoken",
    "huggingface_hub",
    "textual_dev",
    "websockets",
    "urllib.request",
    "http.client",
    "webbrowser",
)


@dataclass
class ModelCheck:
    path: str = ""
    source: str = ""
    loads: bool = False
    how: str = ""
    error: str = ""


@dataclass
class DoctorReport:
    data_dir: str
    config_file: str
    config_exists: bool
    cache_dir: str
    profile: str
    profile_exists: bool
    encrypted: bool
    shared: bool
    encryption_note: str
    permission_problems: list[str]
    model: ModelCheck
    gpu_offload: bool | None
    network: str
    network_modules: list[str]
    devtools: bool
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "data_dir": self.data_dir,
            "config_file": self.config_file,
            "config_exists": self.config_exists,
            "cache_dir": self.cache_dir,
            "profile": {
                "name": self.profile,
                "exists": self.profile_exists,
                "encrypted": self.encrypted,
                "shared": self.shared,
                "note": self.encryption_note or None,
            },
            "permission_problems": self.permission_problems,
            "model": {
                "path": self.model.path,
                "source": self.model.source,
                "loads": self.model.loads,
                "how": self.model.how,
                "error": self.model.error or None,
            },
            "gpu_offload": self.gpu_offload,
            "network": self.network,
            "network_modules_loaded": self.network_modules,
            "textual_devtools": self.devtools,
            "problems": self.problems,
        }

    def lines(self) -> list[str]:
        """The human-readable report, one finding per line."""
        gpu = {True: "available in this llama.cpp build", False: "not in this build (CPU only)", None: "unknown"}
        profile = self.profile + ("" if self.profile_exists else " (not created yet)")
        if self.profile_exists:
            profile += ", encrypted" if self.encrypted else ", not encrypted"
            if self.shared:
                profile += ", shared"
        model = self.model.path or "(none)"
        if self.model.source:
            model += f" (from {self.model.source})"
        out = [
            f"data:        {self.data_dir}",
            f"config:      {self.config_file}" + ("" if self.config_exists else " (not present: defaults)"),
            f"cache:       {self.cache_dir}",
            f"profile:     {profile}",
        ]
        if self.encryption_note:
            out.append(f"             {self.encryption_note}")
        if self.permission_problems:
            out.append(f"permissions: {len(self.permission_problems)} problem(s)")
            out += [f"  {p}" for p in self.permission_problems[:MAX_LISTED]]
            if len(self.permission_problems) > MAX_LISTED:
                out.append(f"  … and {len(self.permission_problems) - MAX_LISTED} more")
        else:
            out.append("permissions: ok (folders 0700, files 0600)")
        out.append(f"model:       {model}")
        how = self.model.how if self.model.loads else f"does not load: {self.model.error}"
        out.append(f"             {how}")
        out.append(f"gpu offload: {gpu[self.gpu_offload]}")
        out.append(f"network:     {self.network}")
        out.append("status:      " + ("healthy" if self.healthy else f"{len(self.problems)} problem(s)"))
        out += [f"  - {p}" for p in self.problems]
        return out


# --------------------------------------------------------------------------
# checks


def permission_problems(root: Path, *, uid: int | None = None) -> list[str]:
    """Folders not 0700, files not 0600, links and foreign owners under ``root``."""
    root = Path(root)
    uid = os.getuid() if uid is None and hasattr(os, "getuid") else uid
    found: list[str] = []

    def check(path: Path, want: int, what: str) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        shown = str(path)
        if stat.S_ISLNK(st.st_mode):
            found.append(f"{shown}: a symbolic link (Candlelit never makes one)")
            return
        mode = stat.S_IMODE(st.st_mode)
        if mode != want:
            found.append(f"{shown}: {what} mode {mode:04o}, should be {want:04o}")
        if uid is not None and st.st_uid != uid:
            found.append(f"{shown}: owned by user id {st.st_uid}, not you ({uid})")

    if not root.exists():
        return found
    check(root, DIR_MODE, "folder")
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            check(here / name, DIR_MODE, "folder")
        for name in sorted(filenames):
            check(here / name, FILE_MODE, "file")
        dirnames.sort()
    return found


def gpu_offload_available() -> bool | None:
    """``llama_supports_gpu_offload()`` of the installed llama.cpp, or None."""
    try:
        import llama_cpp  # deferred: loads the shared library

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # noqa: BLE001 - any failure means "unknown"
        return None


def loaded_network_modules(modules: Iterable[str] | None = None) -> list[str]:
    """Which of :data:`NETWORK_MODULES` this process has imported."""
    names = set(sys.modules if modules is None else modules)
    return sorted(m for m in NETWORK_MODULES if m in names)


def devtools_requested(env: dict[str, str] | None = None) -> bool:
    """Whether ``$TEXTUAL`` asks for devtools (the app switches them off anyway)."""
    env = os.environ if env is None else env
    features = {f.strip().lower() for f in env.get("TEXTUAL", "").split(",")}
    return "devtools" in features


def _check_model(
    ws: Workspace,
    override: str | None,
    source: str,
    progress: Callable[[int, int], None] | None,
    load: bool,
) -> ModelCheck:
    check = ModelCheck(source=source or ("config [model] path" if ws.config.model.path else "bundled default"))
    try:
        path = ws.model_path(override, progress=progress)
    except ModelFileError as exc:
        check.path = override or ws.config.model.path or ""
        check.error = str(exc)
        return check
    check.path = str(path)
    m = ws.config.model
    gpu = "CPU only" if m.n_gpu_layers == 0 else f"n_gpu_layers={m.n_gpu_layers}"
    how = f"llama.cpp in this process (llama-cpp-python), n_ctx={m.n_ctx}, {gpu}"
    if not load:
        check.how = how + "; load not tried"
        check.loads = True
        return check
    try:
        engine = ws.open_engine(path, vocab_only=True)
    except (EngineError, ModelFileError, OSError) as exc:
        check.error = str(exc)
        return check
    info = engine.info
    engine.close()
    check.loads = True
    template = "its own chat template" if info.chat_template else "no chat template (plain transcript)"
    check.how = f"{info.name}: {how}; {template}; vocabulary loaded fine"
    return check


def diagnose(
    ws: Workspace,
    *,
    model_override: str | None = None,
    model_source: str = "",
    progress: Callable[[int, int], None] | None = None,
    load_model: bool = True,
) -> DoctorReport:
    """Run every check; ``report.problems`` lists what needs fixing."""
    paths = ws.paths
    problems: list[str] = []

    perms = permission_problems(paths.home)
    if perms:
        problems.append(
            f"{len(perms)} permission problem(s) under the data folder; "
            f"fix with: chmod -R go-rwx {paths.home}"
        )
    config_exists = paths.config_file.is_file()
    if config_exists:
        mode = stat.S_IMODE(os.stat(paths.config_file).st_mode)
        if mode & 0o077:
            problems.append(
                f"the config file {paths.config_file} can be read by other users (mode {mode:04o}); "
                f"it may hold personal names: chmod 600 {paths.config_file}"
            )

    exists, encrypted, shared, note = _check_profile(ws, problems)

    model = _check_model(ws, model_override, model_source, progress, load_model)
    if not model.loads:
        problems.append(f"the model does not load: {model.error}")
    gpu = gpu_offload_available()
    if ws.config.model.n_gpu_layers != 0 and gpu is False:
        problems.append(
            "n_gpu_layers is set but this llama.cpp build has no GPU support "
            "(see README: GPU offload)"
        )

    network, net_modules, devtools = _check_network(problems)

    return DoctorReport(
        data_dir=str(paths.home),
        config_file=str(paths.config_file),
        config_exists=config_exists,
        cache_dir=str(paths.cache),
        profile=ws.profile_name,
        profile_exists=exists,
        encrypted=encrypted,
        shared=shared,
        encryption_note=note,
        permission_problems=perms,
        model=model,
        gpu_offload=gpu,
        network=network,
        network_modules=net_modules,
        devtools=devtools,
        problems=problems,
    )


def _check_profile(ws: Workspace, problems: list[str]) -> tuple[bool, bool, bool, str]:
    """``(exists, encrypted, shared, encryption note)`` of the profile; what
    needs fixing is added to ``problems``."""
    folder = ws.paths.profile(ws.profile_name)
    exists = folder.is_dir()
    encrypted = shared = False
    note = ""
    if exists:
        try:
            info = profile_info(ws.paths, ws.profile_name)
        except ProfileError as exc:
            problems.append(str(exc))
        else:
            encrypted, shared = info.encrypted, info.shared
            if info.problem:
                problems.append(f"profile '{ws.profile_name}': {info.problem}")
            if encrypted:
                plain = plain_data_files(folder)
                if plain:
                    note = (
                        f"{plain} file(s) in its folder are not encrypted (put there by hand, "
                        "or left by something other than Candlelit): look at them, then move "
                        "or delete them"
                    )
                    problems.append(f"profile '{ws.profile_name}': {plain} unencrypted file(s) in an encrypted profile")
                else:
                    note = "every file is age-encrypted (files/*.age, index.age); names reveal nothing"
    return exists, encrypted, shared, note


def _check_network(problems: list[str]) -> tuple[str, list[str], bool]:
    """``(network line, network modules loaded, devtools asked for)``; a loaded
    network library is added to ``problems``."""
    net_modules = loaded_network_modules()
    devtools = devtools_requested()
    network = "none used"
    if net_modules:
        network = "none used by Candlelit, but network libraries are loaded: " + ", ".join(net_modules)
        problems.append(f"network libraries are loaded in this process: {', '.join(net_modules)}")
    if devtools:
        network += " ($TEXTUAL asks for devtools; Candlelit switches them off)"
    return network, net_modules, devtools
