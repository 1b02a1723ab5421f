"""The app's log: a rotating file (`--log-file`, `[log] file`, else <data dir>/listsync.log).

The terminal app calls `configure_app_logging(args)` once at start, so nothing
the engine logs ever lands on its own screen (anyio's TLS handshake errors included).
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
from pathlib import Path

from engine import ConfigError, default_data_dir

LOG_NAME = "listsync.log"
MAX_BYTES = 1_000_000  # small files, few writes: kind to SD cards
BACKUPS = 3


def app_log_path(args: argparse.Namespace) -> Path:
    """--log-file (or [log] file), else <data dir>/listsync.log."""
    if getattr(args, "log_file", None):
        return Path(args.log_file).expanduser()
    # Not the commands' data_dir_of: its module loads cryptography, ~40 ms before first paint.
    given = getattr(args, "data_dir", None)
    data_dir = Path(given).expanduser() if given else default_data_dir()
    return data_dir / LOG_NAME


def configure_app_logging(args: argparse.Namespace) -> Path:
    """Send every log record to the app's log file only; returns its path."""
    path = app_log_path(args)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"Could not open the log file {path}: {err.strerror}.") from err
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    settings = getattr(args, "settings", None)
    level = "debug" if getattr(args, "debug", False) else getattr(settings, "log_level", "info")
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    return path
