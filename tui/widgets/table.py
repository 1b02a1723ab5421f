"""Table: a row-cursor DataTable where Home and End move the cursor, as people expect,
and lines drawn before new rows were measured are redrawn at the measured widths."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.binding import Binding
from textual.widgets import DataTable


class Table(DataTable[Any]):
    """DataTable with Home/End going to the first/last row (Textual only scrolls there)."""

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None, zebra_stripes: bool = False) -> None:
        super().__init__(cursor_type="row", id=id, zebra_stripes=zebra_stripes)

    async def _on_idle(self, event: events.Idle) -> None:
        # DataTable measures new rows when idle, but keeps the lines it drew before that in a
        # cache that ignores column widths: a frame painted between add_row and idle (rows
        # arriving as a screen resumes) stayed at the headers' widths ("stopp") for good.
        widths = [column.get_render_width(self) for column in self.columns.values()]
        await super()._on_idle(event)
        if widths != [column.get_render_width(self) for column in self.columns.values()]:
            self._clear_caches()
            self.refresh()
