"""HelpScreen: every key the screen underneath answers to, with what it does."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui.widgets.table import Table


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
