"""End to end: two devices sell apples offline, then sync through `serve` and `sync`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from engine.inventory import LIST_DOC_ID
from engine.listdoc import open_list_db
from tests.helpers import REPO_ROOT, cli_command, cli_env, run_cli


def apples(data: Path) -> int:
    done = run_cli("--data-dir", str(data), "--user", "bob", "items", "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)[0]["value"])


def test_sales_made_apart_on_two_devices_add_up_after_they_sync(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("--data-dir", str(a), "--user", "bob", "adjust", "Apples", "-1").returncode == 0
    assert run_cli("--data-dir", str(b), "--user", "bob", "adjust", "Apples", "-2").returncode == 0
    server = subprocess.Popen(
        cli_command("--data-dir", str(a), "--user", "bob", "serve", "--tls", "disabled",
                    "--no-advertise", "--host", "127.0.0.1"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(),
        cwd=REPO_ROOT)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()   # "listening <url> fingerprint=-" once ready
        assert line.startswith("listening "), line
        url = line.split()[1]
        for _ in range(2):   # the second round carries the resolution back; a no-op after
            done = run_cli("--data-dir", str(b), "--user", "bob", "sync", url,
                           LISTSYNC_PASSWORD="password")
            assert done.returncode == 0, done.stderr
        assert apples(b) == 7
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)   # waits, and closes its stdout pipe
    assert server.returncode == 0
    assert apples(a) == 7
    with open_list_db(a, "bob") as db_a, open_list_db(b, "bob") as db_b:
        assert db_a.conflicts(LIST_DOC_ID) == [] == db_b.conflicts(LIST_DOC_ID)
        assert db_a.get(LIST_DOC_ID).rev == db_b.get(LIST_DOC_ID).rev  # type: ignore[union-attr]
