"""LoginScreen: who is using this device, and the password replicators show to peers.

Each user has their own database; the last user's name is remembered and
offered again. It is the base screen; the app replaces it after login.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from tui.widgets.keybar import KeyBar


def name_problem(user: str) -> str | None:
    """Why a user name cannot be used as a database folder, or None if it can."""
    if not user:
        return "Enter a user name."
    if "/" in user or "\\" in user or user.startswith(".") or any(ord(c) < 32 for c in user):
        return "A user name cannot contain slashes, control characters or start with a dot."
    return None


class LoginScreen(Screen[None]):
    """Asks for a user name (unless given) and a password; posts Submitted."""

    class Submitted(Message):
        """The person entered a usable name and a password."""

        def __init__(self, user: str, password: str) -> None:
            super().__init__()
            self.user = user
            self.password = password

    AUTO_FOCUS = "Input"

    def __init__(self, *, user: str | None = None, fixed_user: bool = False) -> None:
        super().__init__()
        self.user = user or ""
        self.fixed_user = fixed_user

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="login", classes="dialog"):
            yield Static("listsync", classes="title")
            yield Label("Keep the shop's inventory in sync with nearby devices.", classes="hint")
            if self.fixed_user:
                yield Label(f"User: {self.user}", id="fixed-user")
            else:
                yield Label("User name")
                yield Input(self.user, placeholder="e.g. user1", id="user")
            yield Label("Password (shown to peers you sync with)")
            yield Input(placeholder="password", password=True, id="password")
            yield Label("", id="problem", classes="problem")
        yield KeyBar()

    def on_mount(self) -> None:
        if self.fixed_user or self.user:
            self.query_one("#password", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "user":
            self.query_one("#password", Input).focus()
            return
        user = self.user if self.fixed_user else self.query_one("#user", Input).value.strip()
        password = self.query_one("#password", Input).value
        problem = name_problem(user) or (None if password else "Enter a password.")
        if problem:
            self.query_one("#problem", Label).update(problem)
            return
        self.query_one("#problem", Label).update("Opening your list…")
        self.post_message(self.Submitted(user, password))

