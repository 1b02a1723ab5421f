"""ActivityScreen: what syncing did — replication events, merged conflicts, errors.

Enter on a resolved conflict shows what lost: each losing revision's items
next to the winner's; r restores a losing revision (asks first) through the
store's `restore`. Resolutions the store noted (also those made by another
process on this database, like the `run` service) are listed when it opens.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Label

from tui.messages import ActivityEntry
from tui.screens.base import AppScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.lost import LostDialog, compare
from tui.widgets.keybar import KeyBar
from tui.widgets.table import Table

KIND_STYLE = {"error": "bold red", "conflict": "bold yellow", "sync": "green",
              "listener": "cyan", "peer": "blue"}


class ActivityScreen(AppScreen):
    """The activity log, from `ListsyncApp.activity`; follows new lines at the bottom."""

    TITLE = "Activity"
    BINDINGS = [
        Binding("enter", "inspect", "What lost", priority=True),
        Binding("r", "restore", "Restore loser", tooltip="Restore what lost (asks first)"),
        Binding("escape", "app.back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")  # in the Linux console font, unlike ⭘
        table = Table(id="activity")
        table.add_column("Time", key="at")
        table.add_column("Kind", key="kind")
        table.add_column("What", key="text", width=54)  # fits 80 columns; full text below
        yield table
        yield Label("", id="activity-detail", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self._shown = 0
        self.watch(self.app, "activity", self.show, init=True)
        self.listsync.load_resolutions()

    def show(self, entries: tuple[ActivityEntry, ...]) -> None:
        table = self.query_one("#activity", DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        if len(entries) <= self._shown:  # the log was trimmed at the front: rebuild
            table.clear()
            self._shown = 0
        for index in range(self._shown, len(entries)):
            entry = entries[index]
            table.add_row(entry.at, Text(entry.kind, style=KIND_STYLE.get(entry.kind, "")),
                          Text(entry.text), key=str(index))
        self._shown = len(entries)
        if follow and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Long lines are cut in the table; the highlighted one is shown whole below it.
        entries = self.listsync.activity
        index = event.cursor_row
        text = entries[index].text if 0 <= index < len(entries) else ""
        self.query_one("#activity-detail", Label).update(text)

    def _conflict(self) -> ActivityEntry | None:
        table = self.query_one("#activity", DataTable)
        if not table.row_count:
            return None
        entry = self.listsync.activity[table.cursor_row]
        if entry.kind != "conflict" or not entry.winner_rev:
            self.notify("Only resolved conflicts keep what lost.", severity="warning")
            return None
        return entry

    def action_inspect(self) -> None:
        entry = self._conflict()
        if entry is not None:
            self.inspect_conflict(entry)

    def action_restore(self) -> None:
        entry = self._conflict()
        if entry is None or entry.doc_id is None:
            return
        if len(entry.loser_revs) == 1:
            self.ask_restore(entry.doc_id, entry.loser_revs[0])
        else:  # pick one in the dialog (r there)
            self.inspect_conflict(entry)

    def ask_restore(self, doc_id: str, rev: str) -> None:
        question = (f"Restore what the other side had ({rev[:12]})? It becomes the current "
                    f"{doc_id} here and on every device you sync with.")
        self.app.push_screen(ConfirmDialog(question, yes="Restore"),
                             lambda yes: self.restore(doc_id, rev) if yes else None)

    @work(group="restore")
    async def restore(self, doc_id: str, rev: str) -> None:
        session = self.listsync.session
        if session is None:
            return
        db = session.db
        done = await self.listsync.engine_call(lambda: db.restore(doc_id, rev))
        if done is not None:
            self.notify(f"Restored {rev[:12]}; it syncs to your other devices.", markup=False)

    @work(group="inspect", exclusive=True)
    async def inspect_conflict(self, entry: ActivityEntry) -> None:
        session = self.listsync.session
        if session is None or entry.winner_rev is None:
            return
        inventory = session.inventory
        winner = await self.listsync.engine_call(inventory.revision_items, entry.winner_rev)
        losers = []
        for rev in entry.loser_revs:
            items = await self.listsync.engine_call(inventory.revision_items, rev)
            losers.append((rev, items))
        def picked(rev: str | None) -> None:
            if rev and entry.doc_id:
                self.ask_restore(entry.doc_id, rev)

        self.app.push_screen(LostDialog(entry.text, compare(winner, losers)), picked)
