"""ItemPane: the selected item's picture, quantity and where its last change came from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from tui.inventory import ItemRow
from tui.widgets.picture import Picture


class ItemPane(Vertical):
    """Side pane of the inventory screen; `show(row, picture)` fills it."""

    DEFAULT_CSS = """
    ItemPane { width: 30; padding: 0 1; border-left: vkey $foreground 30%; }
    ItemPane #item-name { text-style: bold; width: 1fr; }
    ItemPane #item-last { color: $text-muted; width: 1fr; }
    ItemPane Picture { height: 11; margin: 1 0; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[ItemRow | None, bytes | None] | None = None

    def compose(self) -> ComposeResult:
        yield Label("", id="item-name", markup=False)
        yield Picture(id="item-picture")
        yield Label("", id="item-qty")
        yield Label("", id="item-last", markup=False)

    def on_mount(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, row: ItemRow | None, picture: bytes | None) -> None:
        if not self.is_mounted:  # the screen's first rows come before our labels exist
            self._shown = (row, picture)
            return
        name = self.query_one("#item-name", Label)
        if row is None:
            name.update("Nothing selected")
            self.query_one("#item-qty", Label).update("Press a to add an item.")
            self.query_one("#item-last", Label).update("")
            self.query_one(Picture).data = None
            return
        name.update(row.key)
        self.query_one("#item-qty", Label).update(f"In stock: {row.value}")
        last = row.last
        self.query_one("#item-last", Label).update(
            f"Last change:\n{last.user} on {last.device}\n{last.at}" if last else "Last change: -"
        )
        self.query_one(Picture).data = picture
