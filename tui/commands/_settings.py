"""The settings file as the command line sees it: loaded once per run, flags win.

`apply_settings(args)` runs before any command (and the app): it loads and
checks the file, keeps it on `args.settings` and fills the global options the
user left out. `fill_listener_args` / `fill_replicator_args` do the same for
`serve`'s and `sync`'s flags, whose argparse defaults are None for this reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine import Settings, load_settings


def apply_settings(args: argparse.Namespace) -> None:
    """Load the settings file (ConfigError if bad) and fill unset global options from it."""
    if getattr(args, "own_settings", False) or getattr(args, "settings", None) is not None:
        return
    s = load_settings(getattr(args, "config", None))
    args.settings = s
    _fill(args, user=s.general_user, data_dir=_text(s.general_data_dir),
          log_file=_text(s.log_file), kiosk=s.app_kiosk)


def settings_of(args: argparse.Namespace) -> Settings:
    apply_settings(args)
    settings: Settings = args.settings
    return settings


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _fill(args: argparse.Namespace, **values: Any) -> None:
    for name, value in values.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def fill_listener_args(args: argparse.Namespace) -> None:
    """`serve`'s flags, falling back to [listener] (a flag can only switch a feature off)."""
    s = settings_of(args)
    _fill(args, host=s.listener_host, port=s.listener_port, tls=s.listener_tls,
          heartbeat=s.listener_heartbeat, name=s.listener_service_name)
    if args.tls == "bundled":
        _fill(args, identity=_text(s.listener_identity),
              identity_password_file=_text(s.listener_identity_password_file))
    args.no_advertise = args.no_advertise or not s.listener_advertise
    args.read_only = args.read_only or s.listener_read_only
    args.no_delta = args.no_delta or not s.listener_deltas


def fill_replicator_args(args: argparse.Namespace) -> None:
    """`sync`'s flags, falling back to [sync] and [listener].heartbeat."""
    s = settings_of(args)
    _fill(args, validation=s.sync_validation, heartbeat=s.listener_heartbeat,
          password_file=_text(s.sync_password_file))
    if args.validation == "pinned":
        _fill(args, pinned_cert=_text(s.sync_pinned_cert))
    if args.validation == "ca":
        _fill(args, ca_file=_text(s.sync_ca_file))
