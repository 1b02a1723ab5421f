"""Where a command gets a password: --password-file, $LISTSYNC_PASSWORD, or a terminal prompt."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from engine import UsageError


def read_password(password_file: str | None, *, new: bool = False) -> str:
    """The first line of --password-file, else $LISTSYNC_PASSWORD, else a prompt.

    `new=True` (setting a password) asks twice on a terminal and refuses a mismatch.
    """
    if password_file:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except OSError as err:
            raise UsageError(f"Could not read the password file {password_file}: "
                             f"{err.strerror}.") from err
        return text.splitlines()[0] if text else ""
    env = os.environ.get("LISTSYNC_PASSWORD")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UsageError("No password given: set $LISTSYNC_PASSWORD, use --password-file, "
                         "or run on a terminal.")
    if not new:
        return getpass.getpass("Password: ")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise UsageError("The two passwords differ.")
    return first
