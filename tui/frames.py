"""Timing of slow work around the first frames a screen paints."""

from __future__ import annotations

from collections.abc import Callable

from textual.dom import DOMNode


def after_first_frames(node: DOMNode, callback: Callable[[], object]) -> None:
    """Run `callback` after the next two frames. A screen's footer keys come a frame after
    its content (Textual builds them once the screen's bindings are known); slow work (the
    Node's import, a picture) would hold up that frame, if only by holding the GIL."""
    node.call_after_refresh(node.call_after_refresh, callback)
