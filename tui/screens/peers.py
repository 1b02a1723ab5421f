"""PeersScreen: devices to sync with (the active peer), found on the LAN or added by hand.

Enter starts or stops syncing with the selected peer; the pane below the
table shows its fingerprint, progress of a large sync, and its last error.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Label, ProgressBar

from tui.messages import PeerRow
from tui.screens.base import AppScreen
from tui.screens.confirm import ConfirmDialog
from tui.screens.prompt import PromptDialog
from tui.widgets.keybar import KeyBar
from tui.widgets.table import Table

STATE_STYLE = {"busy": "bold green", "idle": "green", "connecting": "yellow",
               "offline": "red", "stopped": "dim"}


def tls_text(peer: PeerRow) -> str:
    """What is known of TLS with a peer: how its certificate was checked, once connected;
    before that, what its advert says, or (added by hand) its URL's scheme."""
    if peer.check is not None:
        return {"none": "disabled", "failed": "check failed", "skip": "not verified (skip)",
                }.get(peer.check, f"verified ({peer.check})")
    return "not checked yet" if peer.tls == "wss" else peer.tls


def progress_text(peer: PeerRow) -> str:
    if peer.total <= 0:
        return ""
    return f"{min(100, 100 * peer.done // peer.total)}%"


class PeersScreen(AppScreen):
    """Peers and their replication state, from `ListsyncApp.peers`."""

    TITLE = "Peers"
    BINDINGS = [
        Binding("enter", "toggle", "Sync on/off", priority=True),
        Binding("a", "add", "Add peer"),
        Binding("d", "forget", "Forget"),
        Binding("escape", "app.back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")  # in the Linux console font, unlike ⭘
        with Vertical(classes="section"):
            table = Table(id="peers")
            table.add_column("Peer", key="name")
            table.add_column("Address", key="address")
            table.add_column("TLS", key="tls")
            table.add_column("State", key="state")
            table.add_column("Done", key="progress")
            yield table
            with Vertical(id="peer-detail"):
                yield Label("", id="peer-info", markup=False)
                yield ProgressBar(total=None, show_eta=False, id="peer-progress")
                yield Label("", id="peer-error", classes="problem", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.app, "peers", self.show, init=True)

    def current(self) -> PeerRow | None:
        table = self.query_one("#peers", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((p for p in self.listsync.peers if p.key == key), None)

    def show(self, peers: tuple[PeerRow, ...]) -> None:
        table = self.query_one("#peers", DataTable)
        selected = self.current()
        table.clear()
        for peer in peers:
            state = Text(peer.activity, style=STATE_STYLE.get(peer.activity, ""))
            name = peer.name + (" (manual)" if peer.source == "manual" else "")
            table.add_row(Text(name), Text(peer.address), Text(tls_text(peer)), state,
                          progress_text(peer), key=peer.key)
        keys = [p.key for p in peers]
        if selected is not None and selected.key in keys:
            table.move_cursor(row=keys.index(selected.key), animate=False)
        self.show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        peer = self.current()
        info = self.query_one("#peer-info", Label)
        bar = self.query_one("#peer-progress", ProgressBar)
        if peer is None:
            info.update("No peers yet. Listeners on the LAN show up here; "
                        "a adds one by address.")
            bar.display = False
            self.query_one("#peer-error", Label).update("")
            return
        info.update(f"{peer.name} at {peer.address} · TLS {tls_text(peer)}\n"
                    f"Fingerprint: {peer.fingerprint or '-'}")
        bar.display = peer.total > 0 and peer.activity in {"busy", "connecting"}
        if bar.display:
            bar.update(total=peer.total, progress=peer.done)
        self.query_one("#peer-error", Label).update(f"Last error: {peer.error}" if peer.error
                                                     else "")

    def action_toggle(self) -> None:
        peer = self.current()
        if peer is not None:
            self.call_bridge("stop_sync" if peer.activity != "stopped" else "start_sync",
                             peer.key)

    def action_add(self) -> None:
        def done(address: str | None) -> None:
            if address:
                self.call_bridge("add_manual_peer", address)

        self.app.push_screen(PromptDialog("Peer address (host:port, or a ws:// or wss:// URL):",
                                          placeholder="192.168.1.20:4984"), done)

    def action_forget(self) -> None:
        peer = self.current()
        if peer is None:
            return
        question = f"Forget {peer.name}? Syncing with it stops."
        self.app.push_screen(ConfirmDialog(question, yes="Forget"),
                             lambda yes: self.call_bridge("forget_peer", peer.key) if yes
                             else None)

    @work(group="peers")
    async def call_bridge(self, method: str, arg: str) -> None:
        await self.listsync.engine_call(getattr(self.listsync.bridge, method), arg)
