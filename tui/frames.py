"""Timing of work around the app's first frames: what waits until they are on screen."""

from __future__ import annotations

import gc
from collections.abc import Callable

from textual.dom import DOMNode


def after_first_frames(node: DOMNode, callback: Callable[[], object]) -> None:
    """Run `callback` after the next two frames, so the screen and its key line are up
    before slow work (the Node's import, a picture) starts: even in a thread it would hold
    the GIL while they are drawn."""
    node.call_after_refresh(node.call_after_refresh, callback)


def collect_again() -> None:
    """After the first paint, turn the cyclic GC back on (`listsync` starts with it off, see
    tui/__main__.py). What starting made lives as long as the app: set it aside (freeze), so
    no collection while someone types walks those objects again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
