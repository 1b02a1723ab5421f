"""Timing of work around the app's first frames: what waits until they are on screen."""

from __future__ import annotations

import gc
from collections.abc import Callable

from textual.dom import DOMNode


def after_first_frames(node: DOMNode, callback: Callable[[], object]) -> None:
    """Run `callback` after the next two frames. A screen's footer keys come a frame after
    its content (Textual builds them once the screen's bindings are known); slow work (the
    Node's import, a picture) would hold up that frame, if only by holding the GIL."""
    node.call_after_refresh(node.call_after_refresh, callback)


def collect_again() -> None:
    """After the first paint, turn the cyclic GC back on (`listsync` starts with it off, see
    tui/__main__.py). What starting made lives as long as the app: set it aside (freeze), so
    no collection while someone types walks those objects again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
