"""Stop strings on a stream of text pieces: emit text only once it cannot start a stop string.

    stops = StopStrings(["\\n\\n", "END"])
    for piece in pieces: send(stops.push(piece)); if stops.hit: break
    send(stops.finish())

A piece may end with the beginning of a stop string ("EN"); that tail is held back until the
next piece shows whether the stop string follows. `text` is the answer up to (not including)
the first stop string; the pieces sent join to exactly `text`.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopStrings:
    def __init__(self, stops: Sequence[str] = ()):
        self.stops = [s for s in stops if s]
        self.text = ""
        self.hit = False
        self._sent = 0  # characters of text already handed out

    def push(self, piece: str) -> str:
        """Add generated text; return what can be sent now (maybe "")."""
        if self.hit:
            return ""
        self.text += piece
        cut = self._first_stop()
        if cut is not None:
            self.hit, self.text = True, self.text[:cut]
            return self._send(cut)
        return self._send(len(self.text) - self._held_back())

    def finish(self) -> str:
        """The rest once generation ended (a held-back tail that never became a stop string)."""
        return self._send(len(self.text))

    def _send(self, end: int) -> str:
        out = self.text[self._sent : end]
        self._sent = max(self._sent, end)
        return out

    def _first_stop(self) -> int | None:
        found = [
            i
            for i in (self.text.find(s, max(self._sent - len(s) + 1, 0)) for s in self.stops)
            if i >= 0
        ]
        return min(found) if found else None

    def _held_back(self) -> int:
        """Length of the longest tail of text that is a proper prefix of a stop string."""
        best = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self.text)), best, -1):
                if self.text.endswith(stop[:k]):
                    best = k
                    break
        return best
