"""`listsync serve` and `listsync sync` as separate processes, driven like a user would."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tests.integration.cliproc import (
    Proc,
    Serve,
    error_lines,
    free_port,
    items,
    run,
    wait_items,
)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """Two data dirs (server, client); each user's db gets the sample list on first use."""
    return tmp_path / "server", tmp_path / "client"


@pytest.fixture
def serve(dirs: tuple[Path, Path]) -> Iterator[Serve]:
    proc = Serve(dirs[0], "--heartbeat", "0.5")
    try:
        yield proc
    finally:
        proc.kill()


def _set(data_dir: Path, name: str, qty: int) -> None:
    done = run(data_dir, "set", name, str(qty))
    assert done.returncode == 0, done.stderr


def test_one_shot_sync_moves_changes_both_ways(dirs: tuple[Path, Path], serve: Serve) -> None:
    server, client = dirs
    assert serve.url == f"ws://127.0.0.1:{serve.port}/userdb" and serve.fingerprint == "-"
    _set(server, "Server Item", 3)
    _set(client, "Client Item", 5)
    done = run(client, "sync", serve.url)
    assert done.returncode == 0, done.stderr
    assert error_lines(done.stderr) == []
    mine = items(client)
    assert mine["Server Item"] == 3 and mine["Client Item"] == 5
    assert items(server) == mine


def test_syncs_with_a_read_only_listener_pull_and_say_once_that_they_do_not_push(
        dirs: tuple[Path, Path]) -> None:
    server, client = dirs
    _set(server, "Server Item", 3)
    _set(client, "Client Item", 5)
    read_only = Serve(server, "--read-only", "--heartbeat", "0.5")
    warning = ("listsync: warning: The peer is read-only, so changes are only pulled from "
               "it, not pushed.")
    try:
        done = run(client, "sync", read_only.url)
        assert done.returncode == 0, done.stderr
        assert error_lines(done.stderr) == [], done.stderr
        assert [line for line in done.stderr.splitlines() if "read-only" in line] == [warning]
        assert items(client)["Server Item"] == 3
        continuous = Proc(client, "sync", read_only.url, "--continuous", "--heartbeat", "0.5")
        try:
            continuous.line(continuous.err, lambda line: "read-only" in line)
            _set(server, "Later Item", 7)  # the pull goes on
            wait_items(client, lambda mine: mine.get("Later Item") == 7)
            assert continuous.stop() == 0
        finally:
            continuous.kill()
    finally:
        read_only.kill()
    assert "Client Item" not in items(server)
    said = [line.rstrip("\n") for line in continuous.rest_of_stderr()]  # all it wrote
    assert [line for line in said if "read-only" in line or "offline" in line] == [warning]


def test_push_only_and_pull_only_move_one_way(dirs: tuple[Path, Path], serve: Serve) -> None:
    server, client = dirs
    _set(server, "Server Item", 3)
    _set(client, "Client Item", 5)
    pushed = run(client, "sync", serve.url, "--push-only")
    assert pushed.returncode == 0, pushed.stderr
    assert "Client Item" in items(server)
    assert "Server Item" not in items(client)
    pulled = run(client, "sync", serve.url, "--pull-only")
    assert pulled.returncode == 0, pulled.stderr
    mine = items(client)
    assert mine["Server Item"] == 3 and mine == items(server)


def test_continuous_sync_carries_edits_made_by_other_processes(
        dirs: tuple[Path, Path], serve: Serve) -> None:
    server, client = dirs
    sync = Proc(client, "sync", serve.url, "--continuous", "--heartbeat", "0.5")
    try:
        base = items(server)["Apples"]
        # A third process edits the server's database; the serve process must push it on.
        assert run(server, "adjust", "Apples", "-3").returncode == 0
        wait_items(client, lambda seen: seen.get("Apples") == base - 3)
        # And the other way: a third process on the client's side.
        assert run(client, "adjust", "Apples", "2").returncode == 0
        wait_items(server, lambda seen: seen.get("Apples") == base - 1)
        assert sync.stop() == 0
    finally:
        sync.kill()
    assert items(client) == items(server)


def test_a_wrong_password_exits_3_after_one_attempt(tmp_path: Path) -> None:
    server, client = tmp_path / "server", tmp_path / "client"
    serve = Serve(server, debug=True)  # the listener logs each refused login
    try:
        done = run(client, "sync", serve.url, password="wrong")
        assert serve.stop() == 0
    finally:
        serve.kill()
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert error_lines(done.stderr) == ["listsync: The peer refused the user name or password."]
    refused = [line for line in serve.rest_of_stderr() if "Refused a login" in line]
    assert len(refused) == 1


def test_an_unreachable_port_exits_5(dirs: tuple[Path, Path]) -> None:
    done = run(dirs[1], "sync", f"ws://127.0.0.1:{free_port()}/userdb", "--retries", "1")
    assert done.returncode == 5
    assert "Traceback" not in done.stderr
    [message] = error_lines(done.stderr)
    assert message.startswith("listsync: Could not connect to 127.0.0.1:")


def test_sigterm_stops_serve_and_a_continuous_sync_catches_up_after_a_restart(
        dirs: tuple[Path, Path]) -> None:
    server, client = dirs
    serve = Serve(server, "--heartbeat", "0.5")
    sync = Proc(client, "sync", serve.url, "--continuous", "--heartbeat", "0.5")
    try:
        _set(server, "Before", 1)
        wait_items(client, lambda seen: seen.get("Before") == 1)
        started = time.monotonic()
        assert serve.stop() == 0
        assert time.monotonic() - started < 5
        sync.line(sync.err, lambda text: text.startswith("listsync: offline, will retry:"))
        _set(server, "While Away", 2)
        serve = Serve(server, "--heartbeat", "0.5", "--port", str(serve.port))
        wait_items(client, lambda seen: seen.get("While Away") == 2)
        assert sync.stop() == 0
        assert serve.stop() == 0
    finally:
        sync.kill()
        serve.kill()
    assert "Traceback" not in "".join(sync.rest_of_stderr())


@pytest.fixture
def tls_serve(dirs: tuple[Path, Path]) -> Iterator[Serve]:
    proc = Serve(dirs[0], tls="anonymous")
    try:
        yield proc
    finally:
        proc.kill()


def test_tls_anonymous_with_validation_skip_syncs(dirs: tuple[Path, Path],
                                                  tls_serve: Serve) -> None:
    server, client = dirs
    assert tls_serve.url.startswith("wss://") and len(tls_serve.fingerprint) == 64
    _set(server, "Secret Item", 9)
    done = run(client, "sync", tls_serve.url, "--validation", "skip")
    assert done.returncode == 0, done.stderr
    assert items(client)["Secret Item"] == 9


def test_tls_with_a_wrong_pinned_cert_exits_4(dirs: tuple[Path, Path], tls_serve: Serve) -> None:
    wrong = REPO_ROOT / "certs" / "pinned-invalid-listener-cert.cer"
    done = run(dirs[1], "sync", tls_serve.url, "--validation", "pinned", "--pinned-cert",
               str(wrong))
    assert done.returncode == 4
    assert "Traceback" not in done.stderr
    assert len(error_lines(done.stderr)) == 1
    assert tls_serve.stop(signal.SIGINT) == 0
