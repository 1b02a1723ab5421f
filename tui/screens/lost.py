"""LostDialog: what the losing side of a merged conflict held, next to the merged result."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui.inventory import ItemRow
from tui.widgets.table import Table


def compare(winner: list[ItemRow] | None,
            losers: list[tuple[str, list[ItemRow] | None]]) -> list[tuple[str, str, str, str]]:
    """Rows (losing rev, item, lost value, kept value) for items whose quantity differed."""
    kept = {row.key: row.value for row in winner or []}
    rows: list[tuple[str, str, str, str]] = []
    for rev, items in losers:
        if items is None:
            rows.append((rev, "(not kept)", "-", "-"))
            continue
        lost = {row.key: row.value for row in items}
        for key in sorted(set(kept) | set(lost), key=str.casefold):
            if kept.get(key) != lost.get(key):
                rows.append((rev, key, _num(lost.get(key)), _num(kept.get(key))))
        if not any(r[0] == rev for r in rows):
            rows.append((rev, "(same items)", "-", "-"))
    return rows


def _num(value: int | None) -> str:
    return "gone" if value is None else str(value)


class LostDialog(ModalScreen[None]):
    """A table of what the losing side of a merge had that the result does not."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__()
        self.heading = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(self.heading, classes="question", markup=False)
            table = Table()
            table.add_columns("Other side", "Item", "It had", "Merged")
            for rev, key, lost, kept in self.rows:
                table.add_row(rev[:12], Text(key), lost, kept)
            yield table
            yield Label("Esc to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
