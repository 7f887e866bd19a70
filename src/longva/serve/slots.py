"""The bounded queue in front of the model: one generation at a time, a few waiting, 429 beyond.

    ticket = slots.admit()          # QueueFull (429) when 1 + max_waiting are already admitted
    await ticket.turn(disconnected) # waits for the model; Cancelled if the client left meanwhile
    ...                             # prepare, generate (in the worker thread)
    ticket.release()                # idempotent; frees the model for the next ticket

Everything here runs on the event loop thread (the worker thread's end is signalled back to
it), so the counters need no lock of their own. One asyncio.Lock serves the API and the page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from longva.serve.api_errors import Cancelled, QueueFull

POLL_SECONDS = 0.25  # how often a waiting request checks that its client is still there


@dataclass
class SlotStats:
    completed: int = 0
    cancelled: int = 0
    failed: int = 0
    rejected: int = 0


class GenerationSlots:
    def __init__(self, max_waiting: int):
        self.max_waiting = max_waiting
        self.stats = SlotStats()
        self._lock = asyncio.Lock()
        self._admitted = 0
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    def admit(self) -> Ticket:
        if self._admitted >= 1 + self.max_waiting:
            self.stats.rejected += 1
            raise QueueFull(self.max_waiting)
        self._admitted += 1
        return Ticket(self)

    def snapshot(self) -> dict:
        return {
            "running": self._running,
            "waiting": self.waiting,
            "max_waiting": self.max_waiting,
            **vars(self.stats),
        }


class Ticket:
    """One admitted request: waiting, then running, then released (exactly once)."""

    def __init__(self, slots: GenerationSlots):
        self._slots = slots
        self.state = "waiting"

    async def turn(self, disconnected: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Wait until the model is free; Cancelled when `disconnected()` turns true meanwhile."""
        acquire = asyncio.ensure_future(self._slots._lock.acquire())
        try:
            while True:
                done, _ = await asyncio.wait({acquire}, timeout=POLL_SECONDS)
                if done:
                    break
                if disconnected is not None and await disconnected():
                    raise Cancelled("the client disconnected while queued")
        except BaseException:
            await _drop(acquire, self._slots._lock)
            raise
        self.state = "running"
        self._slots._running += 1

    def release(self, outcome: str = "completed") -> None:
        """Free the slot; outcome counts into the stats (completed / cancelled / failed)."""
        if self.state == "released":
            return
        slots = self._slots
        if self.state == "running":
            slots._running -= 1
            slots._lock.release()
            setattr(slots.stats, outcome, getattr(slots.stats, outcome) + 1)
        slots._admitted -= 1
        self.state = "released"


async def _drop(acquire: asyncio.Future, lock: asyncio.Lock) -> None:
    """Stop waiting for the lock; if it was granted in the meantime, give it back."""
    acquire.cancel()
    try:
        await asyncio.shield(acquire)
    except (asyncio.CancelledError, Exception):
        pass
    if acquire.done() and not acquire.cancelled() and acquire.exception() is None:
        lock.release()
