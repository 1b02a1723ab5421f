"""`listsync demo`: a second peer on this machine, and the app synced to it.

Two throwaway data dirs (the user's own list is never touched): a headless
`listsync serve` on 127.0.0.1 in one, a "shop" process selling and restocking
a random item every few seconds in the same dir, and the app in the other,
syncing with the serve. Quitting the app stops both processes; they also die
with the app if it is killed (Linux parent-death signal).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from engine import (
    NetworkError,
    Settings,
    UsageError,
    adjust,
    items_view,
    open_list_db,
    read_list,
    update_list,
)
from tui.commands.app import configure_logging

DEMO_USER = "bob"  # in the shipped allowlist, so the serve accepts the app
DEMO_PASSWORD = "password"
READY_SECONDS = 30.0  # how long the serve may take to print its "listening" line
PR_SET_PDEATHSIG = 1


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="a second peer on this machine, and the app synced to it")
    p.add_argument("--interval", metavar="S", type=float, default=3.0,
                   help="seconds between the other peer's sales and restocks (default 3)")
    p.add_argument("--keep", action="store_true",
                   help="keep the demo's data dirs (their path is printed at the end)")
    p.set_defaults(func=run_demo)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the demo process dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(args: list[str], *, stdout: int | IO[Any] | None, log: IO[Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=log, text=True, preexec_fn=_die_with_parent)


def _wait_listening(serve: subprocess.Popen[str]) -> int:
    """The port from the serve's "listening wss://127.0.0.1:PORT/userdb ..." line."""
    assert serve.stdout is not None
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        line = serve.stdout.readline()  # the serve prints it once it accepts connections
        if not line:
            break
        if line.startswith("listening "):
            url = line.split()[1]
            return int(url.rsplit(":", 1)[1].split("/", 1)[0])
    raise NetworkError("The demo's second peer did not start; see the log in its data dir.")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def run_demo(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise UsageError("--interval must be a positive number of seconds.")
    root = Path(tempfile.mkdtemp(prefix="listsync-demo-"))
    peer_dir, app_dir = root / "peer", root / "app"
    peer_dir.mkdir()
    configure_logging(app_dir / "listsync.log", debug=bool(args.debug))
    children: list[subprocess.Popen[str]] = []
    try:
        with open(peer_dir / "peer.log", "a", encoding="utf-8") as log:
            serve = _spawn(["-m", "tui", "--data-dir", str(peer_dir), "--user", DEMO_USER,
                            "serve", "--host", "127.0.0.1", "--no-advertise"],
                           stdout=subprocess.PIPE, log=log)
            children.append(serve)
            port = _wait_listening(serve)
            children.append(_spawn(["-m", "tui.commands.demo", str(peer_dir), DEMO_USER,
                                    str(args.interval)], stdout=log, log=log))
        return _run_app(app_dir, port, root / "settings.toml")
    finally:
        for child in reversed(children):
            _stop(child)
        if args.keep:
            print(f"listsync: the demo's data is in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _run_app(app_dir: Path, port: int, settings_file: Path) -> int:
    from tui.app import ListsyncApp

    # Its own settings (defaults, saved in the throwaway dir): the user's file is never
    # read or written, so a pinned-cert setup or a fixed port cannot break the demo.
    app = ListsyncApp(data_dir=app_dir, opener=open_list_db, user=DEMO_USER,
                      settings=Settings(path=settings_file),
                      password=DEMO_PASSWORD, sync_with=f"127.0.0.1:{port}",
                      node_options={"host": "127.0.0.1", "advertise": False, "browse": False})
    app.run()
    return app.return_code or 0


def shop(data_dir: Path, user: str, interval: float) -> None:
    """The other peer's shop: every `interval` seconds sell or restock a random item."""
    rng = random.Random()
    with open_list_db(data_dir, user, "userdb") as db:
        while True:
            time.sleep(interval)  # pacing a demo, not waiting for anything
            rows = items_view(read_list(db))
            if not rows:
                continue
            row = rng.choice(rows)
            name, delta = row["key"], rng.choice((-1, -1, 1, 2)) if row["value"] > 0 else 3
            update_list(db, lambda body, n=name, d=delta: adjust(
                body, n, d, device=db.uuid, user=user, now=time.time()))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        shop(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
