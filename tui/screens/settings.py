"""SettingsScreen: how this device listens and syncs, in the shared settings file.

The same TOML file every `listsync` command reads (engine's settings API); ctrl+s
checks, saves and restarts syncing with the new settings; Esc leaves without saving.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.widgets import Header, Input, Label, Select

from engine import ConfigError, EngineError, Settings
from tui.screens.base import AppScreen
from tui.widgets.keybar import KeyBar
from tui.widgets.tick import Tick

TLS_HELP = {
    "anonymous": "anonymous (self-signed cert made at start)",
    "disabled": "disabled (plain text)",
    "bundled": "bundled (shipped identity)",
    "generated": "generated (made once, kept)",
}
VALIDATION_HELP = {
    "skip": "skip (accept a self-signed cert)",
    "ca": "CA (normal chain validation)",
    "pinned": "pinned (only the pinned cert)",
    "tofu": "trust on first use",
}


class SettingsScreen(AppScreen):
    """A form over the settings file's [listener] and [sync] keys."""

    TITLE = "Settings"
    AUTO_FOCUS = "#tls"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save & apply"),
        Binding("escape", "app.back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        s = self.listsync.settings
        yield Header(icon="≡")  # in the Linux console font, unlike ⭘
        with VerticalScroll(classes="section"), Grid(id="settings-form"):
            yield Label("Listener TLS")
            yield Select([(text, key) for key, text in TLS_HELP.items()], value=s.listener_tls,
                         allow_blank=False, compact=True, id="tls")
            yield Label("Port (0 = any)")
            yield Input(str(s.listener_port), type="integer", compact=True, id="port")
            yield Label("Check peers' certs")
            yield Select([(text, key) for key, text in VALIDATION_HELP.items()],
                         value=s.sync_validation, allow_blank=False, compact=True, id="validation")
            yield Label("Pinned cert (DER)")
            yield Input(str(s.sync_pinned_cert or ""), placeholder="path, for pinned",
                        compact=True, id="pinned_cert")
            yield Tick("Delta sync (send only what changed)", s.listener_deltas, compact=True,
                       id="deltas", classes="wide")
            yield Tick("Read-only listener (peers may pull, not push)", s.listener_read_only,
                       compact=True, id="read_only", classes="wide")
            yield Tick("Advertise this device on the LAN (mDNS)", s.listener_advertise,
                       compact=True, id="advertise", classes="wide")
            yield Label("Service name")
            yield Input(s.listener_service_name or "", placeholder="default: user@host",
                        compact=True, id="service_name")
        yield KeyBar()

    def read_form(self) -> Settings:
        port_text = self.query_one("#port", Input).value.strip() or "0"
        try:
            port = int(port_text)
        except ValueError as err:
            raise ConfigError(f"Port {port_text!r} is not a number.") from err
        validation = str(self.query_one("#validation", Select).value)
        pinned = self.query_one("#pinned_cert", Input).value.strip()
        if validation == "pinned" and not pinned:
            raise ConfigError("Pinned validation needs the path of the pinned certificate.")
        return self.listsync.settings.with_values({
            "listener.tls": str(self.query_one("#tls", Select).value),
            "listener.port": port,
            "listener.deltas": self.query_one("#deltas", Tick).value,
            "listener.read_only": self.query_one("#read_only", Tick).value,
            "listener.advertise": self.query_one("#advertise", Tick).value,
            "listener.service_name": self.query_one("#service_name", Input).value.strip(),
            "sync.validation": validation,
            "sync.pinned_cert": pinned,
        })

    def action_save(self) -> None:
        try:
            settings = self.read_form()
            self.listsync.apply_settings(settings)
        except EngineError as err:
            self.listsync.report(err)
            return
        except OSError as err:
            self.listsync.report(f"Could not save settings: {err.strerror or err}.")
            return
        self.notify("Settings saved and applied.")
