"""Helpers shared by the identity, users and trust commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def data_dir_of(args: argparse.Namespace) -> Path:
    """--data-dir, else $XDG_DATA_HOME/listsync, else ~/.local/share/listsync."""
    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "listsync"
