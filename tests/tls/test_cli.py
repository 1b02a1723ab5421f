"""The identity, users and trust commands, as a person or a script uses them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from engine.net.identity import generated_identity
from engine.net.trust import TrustStore
from engine.sync import auth
from engine.sync.auth import Allowlist
from tests.helpers import run_cli
from tui import cli

pytestmark = pytest.mark.usefixtures("sample_allowlist")


@pytest.fixture
def sample_allowlist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "userallowlist.json").write_text('{"name": "bob", "password": "password"}\n')
    monkeypatch.setattr(auth, "shipped_data_dir", lambda: shipped)
    monkeypatch.delenv("LISTSYNC_PASSWORD", raising=False)


def _run(data: Path, *argv: str) -> int:
    return cli.main(["--data-dir", str(data), *argv])


def test_identity_show_creates_once_then_shows_the_same_fingerprint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, "identity", "show") == 0
    first = capsys.readouterr()
    assert "Created a new listener identity" in first.err
    assert _run(tmp_path, "identity", "show") == 0
    again = capsys.readouterr()
    assert again.err == "" and again.out == first.out
    assert f"fingerprint: {generated_identity(tmp_path).fingerprint}" in again.out
    assert _run(tmp_path, "identity", "show", "--pem") == 0
    assert capsys.readouterr().out.startswith("-----BEGIN CERTIFICATE-----")


def test_identity_replace_prints_old_and_new(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    old = generated_identity(tmp_path)
    assert _run(tmp_path, "identity", "replace") == 0
    out = capsys.readouterr().out
    new = generated_identity(tmp_path)
    assert old.pretty_fingerprint in out and new.pretty_fingerprint in out
    assert old.fingerprint != new.fingerprint


def test_users_add_reads_the_password_from_the_environment_and_hashes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LISTSYNC_PASSWORD", "kiosk-pw")
    assert _run(tmp_path, "users", "add", "kiosk") == 0
    path = tmp_path / "userallowlist.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Allowlist.load(path).entries["kiosk"].matches("kiosk-pw")
    capsys.readouterr()
    assert _run(tmp_path, "users", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "bob", "kind": "plaintext"},
                                                   {"name": "kiosk", "kind": "scrypt"}]


def test_users_add_prompts_twice_on_a_terminal(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["pw-1", "pw-1", "pw-2", "pw-3"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert _run(tmp_path, "users", "add", "ann") == 0
    assert Allowlist.load(tmp_path / "userallowlist.json").entries["ann"].matches("pw-1")
    assert _run(tmp_path, "users", "add", "ann") == 2  # the two answers differ


def test_users_add_without_any_password_source_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, "users", "add", "ann") == 2
    assert "No password given" in capsys.readouterr().err


def test_users_add_from_a_password_file_and_remove(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    assert _run(tmp_path, "users", "add", "ann", "--password-file", str(tmp_path / "pw")) == 0
    assert Allowlist.load(tmp_path / "userallowlist.json").entries["ann"].matches("from-file")
    assert _run(tmp_path, "users", "remove", "ann") == 0
    assert _run(tmp_path, "users", "remove", "ann") == 1
    assert "no user 'ann'" in capsys.readouterr().err


def test_trust_forget_drops_a_remembered_peer(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = TrustStore.for_data_dir(tmp_path)
    store.remember_or_get("192.168.1.20:4984", "ab" * 32)
    assert _run(tmp_path, "trust", "list") == 0
    assert "192.168.1.20:4984\tAB:AB" in capsys.readouterr().out
    assert _run(tmp_path, "trust", "forget", "192.168.1.20:4984") == 0
    assert store.entries() == {}
    assert _run(tmp_path, "trust", "forget", "192.168.1.20:4984") == 1
    assert _run(tmp_path, "trust", "forget", "no-port") == 2


def test_trust_add_pre_seeds_a_fingerprint_checked_by_eye(tmp_path: Path) -> None:
    listener = generated_identity(tmp_path / "listener")
    assert _run(tmp_path, "trust", "add", "[fe80::1]:4984", listener.pretty_fingerprint) == 0
    assert TrustStore.for_data_dir(tmp_path).entries() == {"[fe80::1]:4984": listener.fingerprint}
    assert _run(tmp_path, "trust", "add", "h:1", "not-a-fingerprint") == 2


def test_the_real_command_line_shows_the_identity(tmp_path: Path) -> None:
    result = run_cli("--data-dir", str(tmp_path), "identity", "show")
    assert result.returncode == 0, result.stderr
    assert generated_identity(tmp_path).fingerprint in result.stdout
