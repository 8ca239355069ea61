"""Stop strings over a token stream.

Text is released only when it can no longer turn out to be the start of a
stop string, so the UI never shows "\\nAlex" and then has to take it back.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopScanner:
    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = [s for s in dict.fromkeys(stops) if s]
        self._text = ""        # everything accepted so far (stop string excluded)
        self._released = 0     # how much of _text has been handed out

    @property
    def text(self) -> str:
        return self._text

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add ``piece``; return (text safe to show now, whether a stop hit)."""
        search_from = max(0, self._released - max((len(s) for s in self.stops), default=0))
        self._text += piece
        hit_at = -1
        for stop in self.stops:
            i = self._text.find(stop, search_from)
            if i != -1 and (hit_at == -1 or i < hit_at):
                hit_at = i
        if hit_at != -1:
            self._text = self._text[:hit_at]
            return self._release(len(self._text)), True
        return self._release(len(self._text) - self._held_back()), False

    def flush(self, piece: str = "") -> str:
        """End of stream without a stop: release everything."""
        self._text += piece
        return self._release(len(self._text))

    def _held_back(self) -> int:
        """Length of the longest tail of the text that starts a stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self._text)), best, -1):
                if self._text.endswith(stop[:n]):
                    best = n
                    break
        return best

    def _release(self, upto: int) -> str:
        upto = max(upto, self._released)
        out = self._text[self._released : upto]
        self._released = upto
        return out
