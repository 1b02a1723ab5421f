"""The allowlist and the listener's password check: hashed entries, constant cost,
files written private, and guessing slowed per address."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
import threading
import time
from pathlib import Path

import anyio
import pytest

from engine.errors import ConfigError, UsageError
from engine.sync import auth
from engine.sync.auth import (
    Allowlist,
    Authenticator,
    Throttle,
    add_user,
    allowlist_path,
    effective_allowlist_path,
    hash_password,
    host_of,
    list_users,
    remove_user,
)

SHIPPED = '{"name": "bob", "password": "password"}\n{"name": "jane", "password": "password"}\n'


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "userallowlist.json").write_text(SHIPPED)
    monkeypatch.setattr(auth, "shipped_data_dir", lambda: folder)
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, shipped: Path) -> Path:
    return tmp_path / "data"


def _mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"name": "bob", "password": "plain-pw"}) + "\n"
                    + json.dumps({"name": "eve", "scrypt": hash_password("hashed-pw")}) + "\n")
    return path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per scrypt run from now on (the real scrypt still runs)."""
    made: list[int] = []
    real = hashlib.scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        made.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth.hashlib, "scrypt", counting)
    return made


@pytest.mark.anyio
async def test_plaintext_and_scrypt_entries_verify_and_wrong_ones_do_not(tmp_path: Path) -> None:
    check = Authenticator(_mixed(tmp_path)).authenticate
    assert await check("bob", "plain-pw", "10.0.0.1")
    assert await check("eve", "hashed-pw", "10.0.0.1")
    assert not await check("bob", "hashed-pw", "10.0.0.1")
    assert not await check("eve", "plain-pw", "10.0.0.1")
    assert not await check("mallory", "plain-pw", "10.0.0.1")
    assert not await check("bob", "", "10.0.0.1")


def test_every_first_check_costs_exactly_one_scrypt(tmp_path: Path, calls: list[int]) -> None:
    allow = Allowlist.load(_mixed(tmp_path))
    checker = Authenticator(allow)
    checker._check("nobody", "warm-up")  # the dummy entry is made on first use
    for user, password in [("bob", "x"), ("eve", "x"), ("nobody", "x"), ("bob", "plain-pw")]:
        calls.clear()
        checker._check(user, password)
        assert len(calls) == 1, (user, password)


def test_a_list_of_plaintext_entries_only_is_checked_without_scrypt(
        tmp_path: Path, calls: list[int]) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"name": "bob", "password": "plain-pw"}) + "\n")
    checker = Authenticator(path)
    assert checker._check("bob", "plain-pw")
    assert not checker._check("bob", "plain-pwx")
    assert not checker._check("bob", "")
    assert not checker._check("nobody", "plain-pw")
    assert calls == []  # nothing hashed in the file: nothing for scrypt to protect
    # One hashed entry, and every check (of any name) pays one scrypt again.
    with path.open("a") as f:
        f.write(json.dumps({"name": "eve", "scrypt": hash_password("hashed-pw")}) + "\n")
    for user, password, ok in [("bob", "wrong", False), ("nobody", "x", False),
                               ("eve", "hashed-pw", True)]:
        calls.clear()
        assert checker._check(user, password) is ok
        assert len(calls) == 1, (user, password)


def test_a_repeated_good_login_skips_the_scrypt_and_a_wrong_one_still_pays(
        tmp_path: Path, calls: list[int]) -> None:
    checker = Authenticator(Allowlist.load(_mixed(tmp_path)))
    for user, password in [("eve", "hashed-pw"), ("bob", "plain-pw")]:
        assert checker._check(user, password)
        calls.clear()
        assert checker._check(user, password)  # reconnecting: remembered
        assert calls == []
        assert not checker._check(user, password + "x")
        assert len(calls) == 1  # a wrong guess costs what it always did
        assert not checker._check(user, "")


@pytest.mark.anyio
async def test_a_remembered_login_ends_when_the_user_is_given_a_new_password(
        data_dir: Path) -> None:
    checker = Authenticator.for_data_dir(data_dir)
    add_user(data_dir, "kiosk", "old-pw")
    assert await checker.authenticate("kiosk", "old-pw", "10.0.0.1")
    assert await checker.authenticate("kiosk", "old-pw", "10.0.0.1")
    add_user(data_dir, "kiosk", "new-pw")
    assert not await checker.authenticate("kiosk", "old-pw", "10.0.0.1")
    assert await checker.authenticate("kiosk", "new-pw", "10.0.0.1")
    remove_user(data_dir, "kiosk")
    assert not await checker.authenticate("kiosk", "new-pw", "10.0.0.1")


def test_scrypt_entries_record_their_parameters() -> None:
    value = hash_password("pw")
    params, salt, digest = value.split("$")
    assert params == "n=16384,r=8,p=1"
    assert value != hash_password("pw")  # a fresh salt each time


def test_adding_a_user_keeps_the_shipped_ones_and_writes_a_private_file(data_dir: Path) -> None:
    assert effective_allowlist_path(data_dir).parent.name == "shipped"
    assert add_user(data_dir, "kiosk1", "s3cret") is True
    path = allowlist_path(data_dir)
    assert effective_allowlist_path(data_dir) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" not in path.read_text()
    kinds = {e.name: e.kind for e in list_users(data_dir)}
    assert kinds == {"bob": "plaintext", "jane": "plaintext", "kiosk1": "scrypt"}
    assert add_user(data_dir, "bob", "new-pw") is False
    assert Allowlist.load(path).entries["bob"].matches("new-pw")


def test_removing_users(data_dir: Path) -> None:
    assert remove_user(data_dir, "jane") is True
    assert remove_user(data_dir, "jane") is False
    assert [e.name for e in list_users(data_dir)] == ["bob"]
    assert stat.S_IMODE(allowlist_path(data_dir).stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "a:b", "tab\there", "x" * 101])
def test_bad_user_names_are_refused(data_dir: Path, name: str) -> None:
    with pytest.raises(UsageError):
        add_user(data_dir, name, "pw")


@pytest.mark.parametrize(("line", "words"), [
    ("not json", "not valid JSON"),
    ('{"name": "a"}', "exactly one of"),
    ('{"name": "a", "scrypt": "n=3,r=8,p=1$AAAA$AAAA"}', "malformed"),
    ('{"password": "x"}', "string \\\"name\\\""),
])
def test_a_malformed_allowlist_names_the_line(tmp_path: Path, line: str, words: str) -> None:
    path = tmp_path / "allow.json"
    path.write_text(SHIPPED + line + "\n")
    with pytest.raises(ConfigError, match=f"Line 3 of .*{words}"):
        Allowlist.load(path)


@pytest.mark.anyio
async def test_the_authenticator_sees_users_added_while_it_runs(data_dir: Path) -> None:
    checker = Authenticator.for_data_dir(data_dir)
    assert await checker.authenticate("bob", "password", "10.0.0.1")
    assert not await checker.authenticate("kiosk", "pw", "10.0.0.1")
    add_user(data_dir, "kiosk", "pw")
    assert await checker.authenticate("kiosk", "pw", "10.0.0.1")


@pytest.mark.anyio
async def test_scrypt_never_runs_on_the_event_loop_even_after_the_list_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list of plaintext entries is checked on the loop (no thread hop per login);
    once a hashed entry appears, the scrypt of every check runs in a worker thread."""
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"name": "bob", "password": "plain-pw"}) + "\n")
    threads: list[int] = []
    real = auth.hashlib.scrypt

    def recording(*args: object, **kwargs: object) -> bytes:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth.hashlib, "scrypt", recording)
    checker = Authenticator(path)
    assert await checker.authenticate("bob", "plain-pw", "10.0.0.1")
    assert threads == []
    with path.open("a") as f:
        f.write(json.dumps({"name": "eve", "scrypt": hash_password("hashed-pw")}) + "\n")
    threads.clear()
    assert await checker.authenticate("eve", "hashed-pw", "10.0.0.1")
    assert not await checker.authenticate("bob", "wrong", "10.0.0.1")
    assert len(threads) == 2
    assert threading.get_ident() not in threads


@pytest.mark.anyio
async def test_plaintext_warns_once_and_passwords_are_never_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    checker = Authenticator(_mixed(tmp_path))
    for password in ["plain-pw", "wrong-guess-1", "wrong-guess-2"]:
        await checker.authenticate("bob", password, "10.0.0.1:5555")
    assert caplog.text.count("plaintext password") == 1
    for secret in ["plain-pw", "hashed-pw", "wrong-guess"]:
        assert secret not in caplog.text


def test_addresses_are_throttled_per_host() -> None:
    assert host_of("10.0.0.1:5555") == host_of("10.0.0.1") == "10.0.0.1"
    assert host_of("[::1]:5555") == host_of("::1") == "::1"


def test_the_throttle_allows_a_burst_then_a_steady_rate() -> None:
    now = [0.0]
    throttle = Throttle(rate=10, burst=10, max_delay=1.0, clock=lambda: now[0])
    assert [throttle.reserve("a") for _ in range(10)] == [0.0] * 10
    assert throttle.reserve("a") == pytest.approx(0.1)
    assert throttle.reserve("b") == 0.0
    now[0] += 0.2  # repaid the debt and one more
    assert throttle.reserve("a") == pytest.approx(0.0)
    while (delay := throttle.reserve("a")) is not None:
        assert delay <= 1.0
    throttle.refund("a")
    assert throttle.reserve("a") is not None


@pytest.mark.anyio
async def test_many_wrong_guesses_from_one_address_are_slowed_but_not_other_addresses(
        tmp_path: Path) -> None:
    checker = Authenticator(_mixed(tmp_path))
    burst_used = anyio.Event()
    attacker_time: list[float] = []
    order: list[str] = []

    async def attacker() -> None:
        start = time.monotonic()
        for attempt in range(30):
            assert not await checker.authenticate("bob", f"guess{attempt}", "10.0.0.66:4000")
            if attempt == 14:
                burst_used.set()
        attacker_time.append(time.monotonic() - start)
        order.append("attacker done")

    async def honest_user() -> None:
        await burst_used.wait()
        assert await checker.authenticate("bob", "plain-pw", "10.0.0.7:4001")
        order.append("honest user in")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(attacker)
            tg.start_soon(honest_user)
    # 10 free guesses, then 10 per second: 20 more guesses need at least 2 s.
    assert attacker_time[0] >= 1.9
    # The honest user, from another address, was not queued behind the attacker's
    # remaining 15 throttled guesses (>= 1.5 s of them).
    assert order == ["honest user in", "attacker done"]


def test_the_written_out_dummy_hash_matches_the_current_scrypt_cost() -> None:
    # Unknown users are checked against it: it must cost what a real entry costs.
    assert auth._dummy() == auth.hash_password("listsync dummy password",
                                               salt=b"\0" * auth.SALT_BYTES)
