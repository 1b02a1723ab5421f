"""ListenerScreen: let other devices sync with this one (the passive peer).

Shows whether we listen, where (URLs, port), how (TLS mode, certificate
fingerprint), who is connected and how many connections are busy.
"""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Label, Static

from tui.messages import ListenerView
from tui.screens.base import AppScreen
from tui.screens.confirm import ConfirmDialog
from tui.widgets.keybar import KeyBar
from tui.widgets.table import Table


class ListenerScreen(AppScreen):
    """The listener's state, from `ListsyncApp.listener`."""

    TITLE = "Listener"
    BINDINGS = [
        Binding("s", "toggle", "Start/stop"),
        Binding("escape", "app.back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")  # in the Linux console font, unlike ⭘
        with Vertical(classes="section"):
            yield Static(id="listener-state")
            yield Label("Connected clients", classes="heading")
            table = Table(id="clients")
            table.add_columns("User", "Address", "Since")
            yield table
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.app, "listener", self.show, init=True)

    def show(self, view: ListenerView) -> None:
        if view.running:
            urls = "\n".join(f"  {escape(url)}" for url in view.urls) or f"  port {view.port}"
            text = (f"[b]Listening[/b] · TLS {escape(view.tls)} · port {view.port} · "
                    f"{view.busy} busy\n{urls}\nFingerprint: {escape(view.fingerprint or '-')}")
        else:
            text = (f"[b]Stopped.[/b] Press s to let other devices sync with this one "
                    f"(TLS {view.tls}).")
        self.query_one("#listener-state", Static).update(text)
        table = self.query_one("#clients", DataTable)
        table.clear()
        for client in view.clients:
            table.add_row(Text(client.user), Text(client.address), client.since,
                          key=client.conn_id)

    def action_toggle(self) -> None:
        view = self.listsync.listener
        if not view.running:
            self.call_bridge(start=True)
        elif view.clients:
            count = len(view.clients)
            question = (f"{count} devices are connected. Stop the listener and disconnect them?"
                        if count > 1 else
                        "A device is connected. Stop the listener and disconnect it?")
            self.app.push_screen(ConfirmDialog(question, yes="Stop"),
                                 lambda yes: self.call_bridge(start=False) if yes else None)
        else:
            self.call_bridge(start=False)

    @work(group="listener", exclusive=True)
    async def call_bridge(self, start: bool) -> None:
        bridge = self.listsync.bridge
        await self.listsync.engine_call(bridge.start_listener if start else bridge.stop_listener)
