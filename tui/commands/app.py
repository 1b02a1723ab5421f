"""Run the terminal app: configure logging to a file, then hand over to ListsyncApp.

Logging goes only to the file (never the screen), including anyio's TLS
handshake errors, which would otherwise print over the app.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from engine import default_data_dir, open_list_db


def configure_logging(log_file: Path, *, debug: bool) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    tls = logging.getLogger("anyio.streams.tls")
    tls.handlers[:] = [handler]
    tls.propagate = False
    logging.captureWarnings(True)  # a stray warning on stderr would scribble over the screen


def run_app(args: argparse.Namespace) -> int:
    from tui.commands._settings import settings_of
    from tui.inventory import open_in_background
    from tui.logfile import configure_app_logging

    settings = settings_of(args)  # also fills --data-dir, --user, --log-file, --kiosk
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    configure_app_logging(args)  # the file only (anyio's TLS handshake errors included)
    password = os.environ.get("LISTSYNC_PASSWORD") or None
    # The list opens while Textual loads (~0.2 s), so its disk work is off the first paint's path.
    opening = (open_in_background(open_list_db, data_dir, args.user, args.db)
               if args.user and password else None)
    from tui.app import ListsyncApp

    app = ListsyncApp(
        data_dir=data_dir, opener=open_list_db, db_name=args.db, user=args.user,
        password=password, settings=settings, kiosk=bool(args.kiosk), opening=opening,
    )
    app.run()
    return app.return_code or 0

