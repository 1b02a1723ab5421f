"""InventoryScreen, the home screen: the items, their quantities and pictures.

Every change is saved at once in a worker; changes from other processes and
peers arrive through the store's change feed and update the table in place,
keeping the cursor on the same item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header

from tui.frames import after_first_frames
from tui.inventory import Inventory, ItemRow, SaveResult
from tui.screens.base import AppScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.prompt import PromptDialog
from tui.widgets.item_pane import ItemPane
from tui.widgets.keybar import KeyBar
from tui.widgets.table import Table

QTY = Binding.Group("Qty", compact=True)


class InventoryScreen(AppScreen):
    """The list of items (name, quantity) with a pane for the selected one."""

    TITLE = "What's in Season?"
    BINDINGS = [
        Binding("plus", "adjust(1)", "+1", tooltip="One more in stock", group=QTY),
        Binding("minus", "adjust(-1)", "-1", tooltip="One fewer in stock", group=QTY),
        Binding("equals_sign,s", "set_quantity", "Set", tooltip="Set the exact quantity",
                group=QTY),
        Binding("a", "add", "Add", tooltip="Add an item"),
        Binding("r", "rename", "Rename", tooltip="Rename the item"),
        Binding("d", "delete", "Delete", tooltip="Delete the item (asks first)"),
        Binding("p", "picture", "Picture", tooltip="Change the picture (from a file)"),
    ]

    def __init__(self, inventory: Inventory, first: tuple[int, list[ItemRow]] | None = None,
                 ) -> None:
        """`first`: (update_seq, rows) already read, so the first paint shows the items."""
        super().__init__()
        self.inventory = inventory
        self.rows: dict[str, ItemRow] = {}
        self._pictures: dict[str, bytes] = {}
        self._first = first
        self._first_frames = first is not None  # until then: no picture (after_first_frames)
        self.sub_title = inventory.user  # before mount: no header update to race the first paint

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")  # in the Linux console font, unlike ⭘
        with Horizontal():
            table = Table(id="items")
            table.add_column("Item", key="name")
            table.add_column(Text("Qty", justify="right"), key="qty", width=6)
            yield table
            yield ItemPane()
        yield KeyBar()

    def on_mount(self) -> None:
        if self._first is None:
            self.follow_changes()
            return
        since, rows = self._first
        self._first = None
        self.show_rows(rows)
        after_first_frames(self, lambda: self._after_first_frames(since))

    def _after_first_frames(self, since: int) -> None:
        self._first_frames = False
        self.follow_changes(since)
        if self._showing():
            self.show_item()  # now with its picture

    # Showing ----------------------------------------------------------------

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#items", DataTable)

    def current_item(self) -> str | None:
        """The id of the item under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def show_rows(self, rows: list[ItemRow]) -> None:
        """Bring the table up to date without moving the cursor off its item."""
        table = self.table
        ids = [row.id for row in rows]
        if ids == list(self.rows):
            for row in rows:
                old = self.rows[row.id]
                if old.value != row.value:
                    table.update_cell(row.id, "qty", _qty(row.value))
                if old.key != row.key:
                    table.update_cell(row.id, "name", Text(row.key))
        else:
            current, index = self.current_item(), table.cursor_row
            table.clear()
            for row in rows:
                table.add_row(Text(row.key), _qty(row.value), key=row.id)
            if current in ids:
                index = ids.index(current)
            table.move_cursor(row=min(index, len(ids) - 1), animate=False)
        self.rows = {row.id: row for row in rows}
        self.show_item()

    def show_item(self) -> None:
        current = self.current_item()
        row = self.rows.get(current) if current else None
        image = row.image if row else None
        digest = str(image.get("digest")) if image else None
        self.query_one(ItemPane).show(row, self._pictures.get(digest) if digest else None)
        if image and digest not in self._pictures and not self._first_frames:
            self.load_picture(image)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_item()

    @work(group="picture", exclusive=True)
    async def load_picture(self, image: dict[str, Any]) -> None:
        data = await self.listsync.engine_call(self.inventory.picture, image)
        if data is not None:
            self._pictures[str(image["digest"])] = data
            if self._showing():
                self.show_item()

    async def reload(self) -> None:
        rows = await self.listsync.engine_call(self.inventory.items)
        if rows is not None and self._showing():
            self.show_rows(rows)

    def _showing(self) -> bool:
        # A read that finishes while the app shuts down finds the table already gone.
        return self.is_attached and bool(self.query("#items"))

    @work(group="feed", exclusive=True)
    async def follow_changes(self, since: int | None = None) -> None:
        """Reload whenever the database grows: our saves, other processes, peers.
        `since`: the rows shown are as of this sequence number (None: read them first)."""
        db = self.inventory.db
        if since is None:
            since = await self.listsync.engine_call(lambda: db.update_seq)
            await self.reload()
        async for _seq in db.subscribe(since or 0):
            await self.reload()

    # Changing ---------------------------------------------------------------

    @work(group="save")
    async def save(self, change: Callable[[], SaveResult]) -> None:
        result = await self.listsync.engine_call(change)
        if result is not None and result.retries:
            self.notify("The list changed on another device at the same moment; "
                        "your change was applied on top.")
        await self.reload()

    def _with_item(self, then: Callable[[str], None]) -> None:
        key = self.current_item()
        if key is None:
            self.notify("The list is empty; press a to add an item.", severity="warning")
        else:
            then(key)

    def action_adjust(self, delta: int) -> None:
        def go(item: str) -> None:
            # Show the new count at once: saving a long list takes a while, and a sale at
            # the till should not wait for the disk. The reload after saving has the final say.
            row = self.rows[item]
            if row.value + delta >= 0:
                self.rows[item] = replace(row, value=row.value + delta)
                self.table.update_cell(item, "qty", _qty(row.value + delta))
                self.show_item()
            self.save(partial(self.inventory.adjust, item, delta))

        self._with_item(go)

    def action_set_quantity(self) -> None:
        def ask(item: str) -> None:
            def done(text: str | None) -> None:
                if text is not None:
                    self.save(partial(self.inventory.set_quantity, item, int(text)))

            row = self.rows[item]
            self.app.push_screen(PromptDialog(f"How many {row.key}?", value=str(row.value),
                                              integer=True), done)

        self._with_item(ask)

    def action_add(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.save(partial(self.inventory.add_item, text, 0))

        self.app.push_screen(PromptDialog("Name of the new item:", placeholder="e.g. Figs"), done)

    def action_rename(self) -> None:
        def ask(item: str) -> None:
            name = self.rows[item].key

            def done(text: str | None) -> None:
                if text is not None and text != name:
                    self.save(partial(self.inventory.rename, item, text))

            self.app.push_screen(PromptDialog(f"Rename {name} to:", value=name), done)

        self._with_item(ask)

    def action_delete(self) -> None:
        def ask(item: str) -> None:
            def done(yes: bool | None) -> None:
                if yes:
                    self.save(partial(self.inventory.delete_item, item))

            name = self.rows[item].key
            question = f"Delete {name} from the list? Devices you sync with lose it too."
            self.app.push_screen(ConfirmDialog(question, yes="Delete"), done)

        self._with_item(ask)

    def action_picture(self) -> None:
        def ask(item: str) -> None:
            def done(text: str | None) -> None:
                if text is not None:
                    self.save(partial(self.inventory.set_image, item, Path(text)))

            question = f"Picture for {self.rows[item].key} (path of a PNG or JPEG file):"
            self.app.push_screen(PromptDialog(question, placeholder="/home/pi/figs.png"), done)

        self._with_item(ask)


def _qty(value: int) -> Text:
    return Text(str(value), justify="right")
