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
    from tui.app import ListsyncApp

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    log_file = Path(getattr(args, "log_file", None) or data_dir / "listsync.log")
    configure_logging(log_file, debug=bool(args.debug))
    app = ListsyncApp(
        data_dir=data_dir, opener=open_list_db, db_name=args.db, user=args.user,
        password=os.environ.get("LISTSYNC_PASSWORD") or None,
    )
    app.run()
    return app.return_code or 0
