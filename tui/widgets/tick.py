"""Tick: a checkbox whose state shows as a character, not only a colour.

Textual's Checkbox always draws "X" and shows on/off by colour, which a
16-colour Linux console can make unreadable; this one draws "X" or a blank.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class Tick(Checkbox):
    """A Checkbox that reads the same in monochrome."""

    @property  # type: ignore[override]
    def BUTTON_INNER(self) -> str:  # noqa: N802 - overrides Textual's class constant
        return "X" if self.value else " "
