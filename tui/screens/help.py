"""HelpScreen: every key the screen underneath answers to, with what it does."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Label

from tui.widgets.table import Table

KEY_NAMES = {"plus": "+", "minus": "-", "equals_sign": "=", "question_mark": "?",
             "escape": "Esc", "enter": "Enter"}


def key_name(key: str) -> str:
    return KEY_NAMES.get(key, key.upper() if key[:1] == "f" and key[1:].isdigit() else key)


def keys_of(screen: Screen[Any], *, kiosk: bool = False) -> list[tuple[str, str]]:
    """(key, what it does) for every key that works on `screen`: its key line's first (the
    screen's own, then the app's), then the rest. Keys the app's `check_action` turns off
    (a kiosk's screens and palette) are not in `active_bindings` at all."""
    keys: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    ranked = sorted(screen.active_bindings.items(), key=lambda kv: (
        not kv[1].binding.show,
        0 if kv[1].node is screen else 1 if kv[1].node is screen.app else 2))
    for key, active in ranked:
        if kiosk and active.binding.action == "quit":
            continue  # a kiosk's quit is a staff chord, not a key for its customers
        text = active.binding.tooltip or active.binding.description
        if text and (key, text) not in seen:
            seen.add((key, text))
            keys.append((key_name(key), text))
    if not kiosk:
        keys.append(("ctrl+p", "Command palette"))
    return keys


class HelpScreen(ModalScreen[None]):
    """Lists (key, action) pairs gathered from the screen it was opened over."""

    BINDINGS = [Binding("escape,f1,question_mark,q", "close", "Close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.heading = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(f"Keys: {self.heading}", classes="question")
            table = Table(zebra_stripes=True)
            # Fixed widths that fit the dialog at 80 columns: no sideways scrolling.
            table.add_column("Key", width=12)
            table.add_column("Does", width=38)
            for key, text in self.keys:
                table.add_row(Text(key), Text(text))
            yield table
            yield Label("Esc to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
