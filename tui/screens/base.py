"""What every full screen of the app shares: typed access to the app's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:
    from tui.app import ListsyncApp


class AppScreen(Screen[None]):
    """A full screen of listsync (not a dialog)."""

    @property
    def listsync(self) -> ListsyncApp:
        return self.app  # type: ignore[return-value]
