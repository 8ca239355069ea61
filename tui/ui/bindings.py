"""The bindings a user can act on, in one place for help and the palette."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from textual.app import App
from textual.binding import Binding


def described_bindings(app: App, nodes: Iterable[object], sep: str = " / ") -> Iterator[tuple[object, Binding, str]]:
    """(node, binding, keys shown) for each binding with a description, the
    first node winning when two share a description."""
    seen: set[str] = set()
    for node in nodes:
        for b in getattr(node, "BINDINGS", []):
            if not isinstance(b, Binding) or not b.description or b.description in seen:
                continue
            check = getattr(node, "check_action", None)
            if check is not None and check(b.action, ()) is False:
                continue  # not available here (e.g. locking a profile that is not encrypted)
            seen.add(b.description)
            keys = sep.join(app.get_key_display(Binding(k, "")) for k in b.key.split(","))
            yield node, b, keys
