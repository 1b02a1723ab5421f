"""Brute force over real sockets: 100 wrong passwords from 127.0.0.1 are slowed down,
while 127.0.0.2 (loopback too) logs in at normal speed in the middle of the attack."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from engine.store import Database
from tests.faults.rig import DB, PASSWORD, USER, serving
from tests.transport.support import basic, upgrade_request

pytestmark = pytest.mark.anyio
GUESSES = 100


async def _login(port: int, password: str, source: str) -> int:
    """HTTP status of one websocket upgrade with Basic auth, sent from `source`."""
    async with await anyio.connect_tcp("127.0.0.1", port, local_host=source) as stream:
        await stream.send(upgrade_request(f"/{DB}", basic(USER, password)))
        head = b""
        while b"\r\n" not in head:
            head += await stream.receive()
    return int(head.split()[1])


async def test_wrong_passwords_from_one_address_are_slowed_but_not_another_address(
        tmp_path: Path) -> None:
    with Database.open(tmp_path / "db") as db:
        async with serving(db, tmp_path) as listener:
            port = listener.port or 0
            started = time.monotonic()
            assert await _login(port, PASSWORD, "127.0.0.2") == 101
            normal = time.monotonic() - started
            attack: list[float] = []
            honest: list[float] = []
            limiter = anyio.CapacityLimiter(20)
            refused = [0]
            burst_spent = anyio.Event()

            async def guess(n: int) -> None:
                async with limiter:
                    assert await _login(port, f"wrong-{n}", "127.0.0.1") == 401
                refused[0] += 1
                if refused[0] == 20:  # the free burst is gone; guesses now wait
                    burst_spent.set()

            async def attacker() -> None:
                begun = time.monotonic()
                async with anyio.create_task_group() as tg:
                    for n in range(GUESSES):
                        tg.start_soon(guess, n)
                attack.append(time.monotonic() - begun)

            async def honest_user() -> None:
                await burst_spent.wait()
                begun = time.monotonic()
                assert await _login(port, PASSWORD, "127.0.0.2") == 101
                honest.append(time.monotonic() - begun)

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(attacker)
                    tg.start_soon(honest_user)
    # The throttle lets 10 guesses through at once, then 10 a second.
    assert attack[0] >= (GUESSES - 10) / 10 * 0.9, attack
    # Not throttled: only the CPU it shares with the attack's (rate-limited) checks.
    assert honest[0] < max(2.0, 3 * normal), (honest, normal)
    print(f"brute force: {GUESSES} wrong guesses took {attack[0]:.1f} s; the other address "
          f"logged in in {honest[0]:.2f} s (alone: {normal:.2f} s)")
