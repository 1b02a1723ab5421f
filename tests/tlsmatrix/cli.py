"""Drive `listsync serve` (a subprocess, ready line parsed) and `listsync sync` from tests."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.listdoc import open_list_db
from engine.store import Database
from tests.helpers import REPO_ROOT, cli_command, cli_env, run_cli

USER, PASSWORD = "bob", "password"  # from the shipped allowlist
PROBE = "tlsmatrix-probe"  # a document only the listener's database holds
READY = re.compile(r"listening (wss?://\S+) fingerprint=([0-9a-f]{64}|-)")


@dataclass
class Serving:
    url: str
    fingerprint: str
    proc: subprocess.Popen[str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def with_scheme(self, scheme: str) -> str:
        return scheme + self.url[self.url.index(":"):]


def make_templates(folder: Path) -> Path:
    """Data dirs `listener` (sample list + probe) and `client` (sample list); slow: once."""
    for name in ("listener", "client"):
        with open_list_db(folder / name, USER, "userdb") as db:
            if name == "listener":
                db.save(PROBE, {"type": "probe"}, rev=None)
    return folder


def data_dir(templates: Path, kind: str, path: Path) -> Path:
    """`path` as a copy of the `kind` template (left alone if it exists: a returning peer)."""
    if not path.exists():
        shutil.copytree(templates / kind, path)
    return path


def has_probe(data_dir: Path, doc_id: str = PROBE) -> bool:
    path = data_dir / USER / "userdb"
    if not path.exists():
        return False
    with Database.open(path, create=False) as db:
        return db.get(doc_id) is not None


def add_doc(data_dir: Path, doc_id: str) -> None:
    with Database.open(data_dir / USER / "userdb", create=False) as db:
        db.save(doc_id, {"type": "probe"}, rev=None)


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("serve printed no ready line in time")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 1)
            if not chunk:
                return line.decode()
            line += chunk
    return line.decode()


@contextmanager
def serve(data_dir: Path, *args: str, port: int = 0) -> Iterator[Serving]:
    """`listsync serve ARGS` on 127.0.0.1 until the block ends (then SIGTERM)."""
    proc = subprocess.Popen(
        cli_command("--data-dir", str(data_dir), "--user", USER, "serve", "--host", "127.0.0.1",
                    "--port", str(port), "--no-advertise", *args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO_ROOT)
    try:
        line = _read_line(proc, time.monotonic() + 30)
        match = READY.fullmatch(line.strip())
        if match is None:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"serve did not get ready: {line!r} {err!r}")
        yield Serving(match.group(1), match.group(2), proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise


def start_failure(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`listsync serve ARGS` expected to fail before it is ready."""
    return run_cli("--data-dir", str(data_dir), "--user", USER, "serve", "--host", "127.0.0.1",
                   "--no-advertise", *args, timeout=30)


def sync(data_dir: Path, url: str, *args: str,
         password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """One-shot `listsync sync URL ARGS` (one attempt) with the password in the environment."""
    return run_cli("--data-dir", str(data_dir), "--user", USER, "sync", url, "--retries", "1",
                   *args, timeout=60, LISTSYNC_PASSWORD=password)


def assert_synced(result: subprocess.CompletedProcess[str], data_dir: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("synced ")
    assert has_probe(data_dir)


def assert_refused(result: subprocess.CompletedProcess[str], code: int,
                   data_dir: Path | None = None) -> str:
    """Exit `code`, one `listsync: ...` sentence last on stderr, no traceback; returns it."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("listsync: ") and last.endswith("."), last
    assert result.stdout == ""
    if data_dir is not None:
        assert not has_probe(data_dir)
    return last
