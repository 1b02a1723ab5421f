"""Noticing that this process was frozen: SIGSTOP, a suspended machine, a blocked loop.

Monotonic clocks keep counting through a freeze, so a ticker whose sleep ends far
past its time has not been running meanwhile. A replicator asks whether a failed
attempt overlapped such a stall: the peer may then have dropped us for our silence.
"""

from __future__ import annotations

import math

import anyio


class StallClock:
    """Ticks every quarter heartbeat; a tick over half a heartbeat late is a stall."""

    def __init__(self, heartbeat: float) -> None:
        self.period = heartbeat / 4
        self.tolerance = heartbeat / 2  # later than this is more than scheduling noise
        self._due = anyio.current_time()  # when the ticker should next be running
        self._last_stall = -math.inf  # when the latest stall was seen to end

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            self._due = anyio.current_time() + self.period
            await anyio.sleep(self.period)
            self._check()

    def stalled_since(self, since: float) -> bool:
        """True if a stall ended at `since` or later, counting one that ends right now
        (the failure it caused may be handled before the ticker gets to run)."""
        self._check()
        return self._last_stall >= since

    def _check(self) -> None:
        now = anyio.current_time()
        if now - self._due > self.tolerance:
            self._last_stall = now
