"""Marking a server connection busy while it transfers, for the listener's active count.

`BusyMarks` wraps a channel's `busy()` context (optional): `during()` covers one
piece of work, `hold(key)`/`release(key)` cover work that spans several messages.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import AbstractContextManager, contextmanager

BusyContext = Callable[[], AbstractContextManager[object]]


class BusyMarks:
    """Busy marks on one channel; with no `busy` context every call is a no-op."""

    def __init__(self, busy: BusyContext | None) -> None:
        self._busy = busy
        self._held: dict[Hashable, AbstractContextManager[object]] = {}

    @contextmanager
    def during(self) -> Iterator[None]:
        if self._busy is None:
            yield
            return
        with self._busy():
            yield

    def hold(self, key: Hashable) -> None:
        if self._busy is None or key in self._held:
            return
        mark = self._busy()
        mark.__enter__()
        self._held[key] = mark

    def release(self, key: Hashable) -> None:
        mark = self._held.pop(key, None)
        if mark is not None:
            mark.__exit__(None, None, None)

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)
