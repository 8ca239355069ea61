"""The chat status line: model, LOCAL badge, context, speed, cache, and in a
group scene its state ("group scene", "paused").

The model's name comes from its file: shown literally (no markup, control
characters made visible)."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from tui.core import neutralize


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    model_state: reactive[str] = reactive("loading model…")
    metrics: reactive[dict | None] = reactive(None)
    n_ctx: reactive[int] = reactive(0)
    busy: reactive[str] = reactive("")
    memory: reactive[str] = reactive("")   # "updating memory…" while a summary is written
    scene: reactive[str] = reactive("")    # "group scene" / "scene paused"; empty for a one-to-one chat

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)

    def render(self) -> str:
        parts = ["LOCAL", neutralize(self.model_state)]
        m = self.metrics or {}
        if m.get("prompt_tokens") is not None and self.n_ctx:
            parts.append(f"ctx {m['prompt_tokens'] + m.get('generated_tokens', 0)}/{self.n_ctx}")
        if m.get("ttft_s") is not None:
            parts.append(f"ttft {m['ttft_s']:.2f}s")
        if m.get("tokens_per_s"):
            parts.append(f"{m['tokens_per_s']:.1f} tok/s")
        if m.get("prompt_tokens"):
            parts.append("cache warm" if m.get("reused_tokens", 0) > 1 else "cache cold")
        if m.get("shifted_tokens"):
            parts.append(f"shifted {m['shifted_tokens']}")
        if self.busy:
            parts.append(self.busy)
        if self.memory:
            parts.append(self.memory)
        if self.scene:
            parts.append(self.scene)
        return "  │  ".join(parts)
