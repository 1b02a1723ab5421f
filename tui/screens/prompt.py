"""PromptDialog: one line of input (a name, a number, a path); Enter accepts, Esc cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptDialog(ModalScreen[str | None]):
    """Asks for one value; dismisses with the text entered, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, value: str = "", placeholder: str = "",
                 integer: bool = False) -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.integer = integer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question", markup=False)
            yield Input(self.value, placeholder=self.placeholder,
                        type="integer" if self.integer else "text", id="answer")
            yield Label("Enter to accept · Esc to cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.integer and text:
            try:
                int(text)
            except ValueError:
                self.notify("Enter a whole number.", severity="warning")
                return
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
