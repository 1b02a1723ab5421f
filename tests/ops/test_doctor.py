"""`listsync doctor`: ok/FAIL per check with what to do, exit 0 only when all pass."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from engine import Settings, generated_identity
from tests.helpers import cli_command, cli_env, run_cli
from tui.commands.doctor import check_clock, check_identity

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def doctor(tmp_path: Path, *args: str, settings: str = "") -> tuple[int, list[str]]:
    config = tmp_path / "s.toml"
    config.write_text(settings)
    result = run_cli("--config", str(config), "--data-dir", str(tmp_path / "data"), "doctor",
                     *args)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def test_a_taken_port_fails_with_how_to_find_the_culprit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = doctor(tmp_path, settings=f'[listener]\nhost = "127.0.0.1"\nport = {port}\n'
                                                'advertise = false\n[sync]\nbrowse = false\n')
    assert code == 1
    assert lines == [
        "ok    multicast: not needed: advertise and browse are off.",
        f"FAIL  port: port {port} is in use by another program.",
        f"      fix: find it with `sudo ss -ltnp 'sport = :{port}'` and stop it, or set another "
        "[listener] port.",
        "ok    identity: anonymous: a new self-signed certificate is made at each start.",
        lines[4],
        lines[5],
        "1 check(s) failed.",
    ]
    assert lines[4].startswith("ok    allowlist: 15 users in ") and "shipped sample" in lines[4]
    assert lines[5].startswith("ok    clock: ") and lines[5].endswith("UTC looks plausible.")


def test_a_free_fixed_port_and_a_generated_identity_pass(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = generated_identity(tmp_path / "data")
    until = identity.certificate.not_valid_after_utc
    code, lines = doctor(tmp_path, settings=f'[listener]\nhost = "127.0.0.1"\nport = {port}\n'
                                            'tls = "generated"\nadvertise = false\n'
                                            '[sync]\nbrowse = false\n')
    assert (code, lines[-1]) == (0, "all checks passed.")
    assert lines[1] == f"ok    port: 127.0.0.1:{port} is free."
    assert lines[2].startswith(f"ok    identity: generated: valid until {until:%Y-%m-%d} (")


def test_a_corrupt_allowlist_and_identity_each_fail_with_a_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    private = Path(generated_identity(data).source)
    private.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n")
    (data / "userallowlist.json").write_text('{"name": "bob", "password": "x"}\nnot json\n')
    code, lines = doctor(tmp_path, settings='[listener]\ntls = "generated"\nadvertise = false\n'
                                            '[sync]\nbrowse = false\n')
    assert code == 1
    assert lines[2] == f"FAIL  identity: The file {private} holds no readable PEM certificate."
    assert lines[3] == ("      fix: make a new one with `listsync identity replace` (peers that "
                        "pinned it must pin the new one).")
    assert lines[4] == f"FAIL  allowlist: Line 2 of {data}/userallowlist.json is not valid JSON."
    assert lines[5].startswith(f"      fix: fix that line of {data}/userallowlist.json")
    assert lines[-1] == "2 check(s) failed."


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="needs root to make a network namespace without multicast")
def test_no_multicast_fails_and_suggests_configured_peers(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("")
    result = subprocess.run(
        ["unshare", "--net", *cli_command("--config", str(tmp_path / "s.toml"), "--data-dir",
                                          str(tmp_path), "doctor")],
        capture_output=True, text=True, env=cli_env(), timeout=60)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[0] == ("FAIL  multicast: Multicast does not work here: no network interface is "
                        "up with multicast enabled (only loopback or nothing), so peers cannot "
                        "be discovered; add peers by address with 'listsync peers add "
                        "HOST:PORT'.")
    assert lines[1].startswith("      fix: connect the Pi to the LAN")
    assert "[peers] urls" in lines[1]


def test_an_unset_clock_fails_and_says_how_to_set_it() -> None:
    finding = check_clock(dt.datetime(1970, 1, 1, 0, 1, tzinfo=dt.UTC))
    assert not finding.ok
    assert finding.detail == ("the clock says 1970-01-01 00:01 UTC, which cannot be right; "
                              "TLS certificates will look invalid.")
    assert "timedatectl set-ntp true" in finding.fix
    assert check_clock(NOW).ok


def test_a_clock_before_the_identity_start_fails(tmp_path: Path) -> None:
    identity = generated_identity(tmp_path)
    start = identity.certificate.not_valid_before_utc
    finding = check_clock(start - dt.timedelta(days=3), identity)
    assert not finding.ok and "is before the identity's start" in finding.detail


def test_an_identity_expiring_soon_fails(tmp_path: Path) -> None:
    identity = generated_identity(tmp_path)
    near_end = identity.certificate.not_valid_after_utc - dt.timedelta(days=10)
    finding, _ = check_identity(Settings().with_values({"listener.tls": "generated"}),
                                tmp_path, near_end)
    assert not finding.ok and "in 10 days" in finding.detail
