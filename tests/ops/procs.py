"""Long-running `listsync` processes for the ops tests: start, read stderr lines, signal."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.helpers import REPO_ROOT, cli_command, cli_env


class CliProcess:
    """A `listsync ...` child whose stderr is read line by line on a thread."""

    def __init__(self, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=cli_env(**env),
                                     cwd=REPO_ROOT)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first stderr line (from now on) matching `pattern`; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r}; got: {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"exited ({self.proc.wait()}) before {pattern!r}: "
                                     f"{self.lines}")
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30, *, signal_it: bool = True) -> int:
        """SIGTERM (unless already sent), then the exit code; every stderr line is then
        in `lines`."""
        if signal_it and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        self._close()
        return code

    def kill(self) -> None:
        """Make sure the child is gone and its pipes closed (safe to call twice)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        self._thread.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def run_args(data: Path, *extra: str, config: Path | None = None) -> list[str]:
    """`run` for user bob on loopback, no mDNS, plain websocket (fast, no TLS handshakes)."""
    head = ["--data-dir", str(data), "--user", "bob"]
    if config is not None:
        head += ["--config", str(config)]
    return [*head, "run", "--host", "127.0.0.1", "--port", "0", "--tls", "disabled",
            "--no-advertise", "--no-browse", *extra]
