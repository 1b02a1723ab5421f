"""Table (tui/widgets/table.py): what it draws once new rows have been measured."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from tui.widgets.table import Table


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        table = Table(id="t")
        table.add_column("Peer", key="name")
        table.add_column("State", key="state")
        yield table


def line(table: Table, y: int) -> str:
    return table.render_line(y).text


@pytest.mark.anyio
async def test_a_row_drawn_before_it_was_measured_is_redrawn_at_full_width() -> None:
    app = OneTable()
    async with app.run_test(size=(80, 6)) as pilot:
        table = app.query_one(Table)
        await pilot.pause()
        table.add_row(Text("kiosk-2 (manual)"), Text("stopped"))
        assert "stopped" not in line(table, 1)  # a frame before measuring: header widths
        await pilot.pause()
        assert "kiosk-2 (manual)" in line(table, 1) and "stopped" in line(table, 1)
        assert line(table, 0).split() == ["Peer", "State"]
