"""`listsync run`: serves and syncs headless, stops cleanly on SIGTERM, reloads on SIGHUP."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import anyio
import pytest

from engine import (
    Database,
    Direction,
    DocumentReplicated,
    Mode,
    Replicator,
    ReplicatorConfig,
    RetryPolicy,
    adjust,
    make_connector,
    open_list_db,
    read_list,
    update_list,
)
from tests.helpers import run_cli
from tests.ops.procs import CliProcess, run_args

LISTENING = r"listener started (ws://127\.0\.0\.1:\d+/userdb)"


def quantity(db: Database, name: str) -> int:
    return next(int(i["value"]) for i in read_list(db)["items"] if i["key"] == name)


@pytest.mark.anyio
async def test_sigterm_loses_no_write_the_client_saw_acknowledged(tmp_path: Path) -> None:
    server = CliProcess(*run_args(tmp_path / "server"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    try:
        url = server.wait_for(LISTENING).group(1)
        client_db = open_list_db(tmp_path / "client", "bob")
        acked: set[tuple[str, str]] = set()
        replicator = Replicator(
            client_db, make_connector(url, username="bob", password="password", tls=None),
            ReplicatorConfig(mode=Mode.PUSH, continuous=True, heartbeat=2.0,
                             retry=RetryPolicy(max_attempts=0, initial_wait=0.1, max_wait=0.5)))
        with client_db:
            async with anyio.create_task_group() as tg:
                events = replicator.events()
                tg.start_soon(replicator.run)

                async def write_forever() -> None:
                    for n in range(100_000):
                        await anyio.to_thread.run_sync(
                            lambda n=n: client_db.save(f"w-{n}", {"n": n}, rev=None))

                tg.start_soon(write_forever)
                with anyio.fail_after(30):
                    async with events:
                        async for event in events:
                            if (isinstance(event, DocumentReplicated)
                                    and event.direction is Direction.PUSH and event.error is None):
                                acked.add((event.doc_id, event.rev))
                                if len(acked) == 40:
                                    server.signal(signal.SIGTERM)  # mid-stream, writes in flight
                                    break
                    code = await anyio.to_thread.run_sync(
                        lambda: server.stop(signal_it=False))
                await replicator.stop()
                tg.cancel_scope.cancel()
        assert code == 0, server.lines
        assert any("client connected: bob" in line for line in server.lines)
        assert server.lines[-1].endswith("stopped; database closed")
        with open_list_db(tmp_path / "server", "bob") as db:
            missing = [key for key in acked if db.get_rev(*key) is None]
            assert db.check() == []
        assert missing == []
    finally:
        server.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_run_syncs_with_a_configured_peer_reconnects_and_reloads_on_sighup(
        tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text('[log]\nlevel = "info"\n', encoding="utf-8")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    a_args = run_args(tmp_path / "a")
    a_args[a_args.index("--port") + 1] = str(free_port())
    a = CliProcess(*a_args, **env)
    b = None
    try:
        url = a.wait_for(LISTENING).group(1)
        b = CliProcess(*run_args(tmp_path / "b", "--peer", url, config=cfg),
                       LISTSYNC_PASSWORD="password", **env)
        b.wait_for(LISTENING)
        b.wait_for(rf"sync with {url}: idle")
        with open_list_db(tmp_path / "a", "bob") as a_db:
            update_list(a_db, lambda body: adjust(body, "Apples", -3, device=a_db.uuid,
                                                  user="bob", now=1.0))
        with open_list_db(tmp_path / "b", "bob") as b_db:
            with anyio.fail_after(20):
                async for _ in b_db.subscribe(0):
                    if quantity(b_db, "Apples") == 7:
                        break

        assert a.stop() == 0  # the peer goes away; b keeps trying, with backoff
        b.wait_for(rf"sync with {url}: offline, retrying with backoff: .+\.$")
        a = CliProcess(*a_args, **env)
        b.wait_for(rf"sync with {url}: idle")

        b.signal(signal.SIGHUP)
        b.wait_for("SIGHUP: settings reloaded, nothing changed")
        cfg.write_text('[log]\nlevel = "debug"\n[listener]\nport = "x"\n', encoding="utf-8")
        b.signal(signal.SIGHUP)
        b.wait_for(rf"settings not reloaded, keeping the current ones: {cfg}: listener.port: "
                   r"expected a whole number, not a string\.")
        cfg.write_text('[log]\nlevel = "debug"\n', encoding="utf-8")
        b.signal(signal.SIGHUP)
        b.wait_for("settings changed: restarting the listener and replications")
        b.wait_for(LISTENING)
        b.wait_for(rf"sync with {url}: idle")
        assert b.stop() == 0 and a.stop() == 0
    finally:
        a.kill()
        if b is not None:
            b.kill()


def test_run_with_its_port_taken_exits_5_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = run_args(tmp_path)
        args[args.index("--port") + 1] = str(port)
        result = run_cli(*args, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    assert result.returncode == 5
    assert result.stderr.endswith(
        f"listsync: Could not listen on 127.0.0.1 port {port}: Address already in use.\n")


def test_run_without_a_user_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("--data-dir", str(tmp_path), "run", XDG_CONFIG_HOME=str(tmp_path / "c"))
    assert result.returncode == 2
    assert result.stderr == ("listsync: The run command needs --user NAME to know whose list "
                             "to use.\n")
