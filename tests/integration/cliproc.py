"""Driving `listsync` processes like a user: a serve process, sync runs, item edits.

Output of long-running processes is read by threads into queues, so a test can
wait for a line with a deadline; polling another process's data has a deadline too.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from engine import items_view, open_list_db, read_list
from tests.helpers import REPO_ROOT, cli_command, cli_env

USER, PASSWORD = "bob", "password"  # from the shipped data/userallowlist.json
READY = re.compile(r"listening (wss?://127\.0\.0\.1:(\d+)/userdb) fingerprint=(\S+)\n")


class Proc:
    """A `listsync` process whose stdout and stderr lines are collected as they come."""

    def __init__(self, data_dir: Path, *args: str, password: str = PASSWORD,
                 debug: bool = False) -> None:
        debugging = ("--debug",) if debug else ()
        self.popen = subprocess.Popen(
            cli_command("--data-dir", str(data_dir), "--user", USER, *debugging, *args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            env=cli_env(LISTSYNC_PASSWORD=password), cwd=REPO_ROOT)
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        assert self.popen.stdout is not None and self.popen.stderr is not None
        for stream, lines in ((self.popen.stdout, self.out), (self.popen.stderr, self.err)):
            threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()

    def line(self, lines: queue.Queue[str], match: Callable[[str], bool],
             deadline: float = 20) -> str:
        """The next line that `match`es, within `deadline` seconds (AssertionError if not)."""
        end = time.monotonic() + deadline
        while True:
            try:
                text = lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no matching line within {deadline} s; "
                                     f"stderr so far: {self.err_lines}") from None
            if lines is self.err:
                self.err_lines.append(text)
            if match(text):
                return text

    def stop(self, sig: signal.Signals = signal.SIGTERM, deadline: float = 10) -> int:
        """Send `sig` and wait (bounded) for the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(deadline)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def rest_of_stderr(self) -> list[str]:
        while True:
            try:
                self.err_lines.append(self.err.get(timeout=5))
            except queue.Empty:
                return self.err_lines
            if self.err_lines[-1] == "":  # end of the stream
                self.err_lines.pop()
                return self.err_lines


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    with stream:  # closed here at the end, or it warns when collected
        for text in stream:
            lines.put(text)
    lines.put("")


class Serve(Proc):
    """`listsync serve` on 127.0.0.1; `url` once it printed its ready line."""

    def __init__(self, data_dir: Path, *args: str, tls: str = "disabled",
                 debug: bool = False) -> None:
        super().__init__(data_dir, "serve", "--host", "127.0.0.1", "--tls", tls,
                         "--no-advertise", *args, debug=debug)
        try:
            line = self.line(self.out, lambda text: text == "" or bool(READY.fullmatch(text)))
            found = READY.fullmatch(line)
            assert found, f"serve ended before it was ready: {self.rest_of_stderr()}"
        except BaseException:
            self.kill()
            raise
        self.url, self.port, self.fingerprint = found[1], int(found[2]), found[3]


def run(data_dir: Path, *args: str, password: str = PASSWORD,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one `listsync` command to completion."""
    return subprocess.run(
        cli_command("--data-dir", str(data_dir), "--user", USER, *args), capture_output=True,
        text=True, timeout=timeout, env=cli_env(LISTSYNC_PASSWORD=password), cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL)


def items(data_dir: Path) -> dict[str, int]:
    done = run(data_dir, "items", "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return {row["key"]: row["value"] for row in rows}


def wait_items(data_dir: Path, check: Callable[[dict[str, int]], bool],
               deadline: float = 20) -> dict[str, int]:
    """Poll the list in `data_dir` until `check` holds (another process owns the sync).

    Read in this process (the store is multi-process safe): a CLI run per poll
    would cost most of a second.
    """
    end = time.monotonic() + deadline
    with open_list_db(data_dir, USER) as db:
        while True:
            seen = {row["key"]: row["value"] for row in items_view(read_list(db))}
            if check(seen):
                return seen
            if time.monotonic() > end:
                raise AssertionError(f"the items never matched; last seen: {seen}")
            time.sleep(0.1)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def error_lines(stderr: str) -> list[str]:
    """stderr without the expected warnings."""
    return [line for line in stderr.splitlines() if line and "warning:" not in line]
