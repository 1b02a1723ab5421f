"""Table: a row-cursor DataTable where Home and End move the cursor, as people expect."""

from __future__ import annotations

from typing import Any

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
