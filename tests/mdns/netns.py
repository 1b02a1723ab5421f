"""Several "hosts" on one machine: network namespaces joined by a veth pair.

`lan` gives two namespaces, A (10.231.<n>.1/24) and B (10.231.<n>.2/24), on
one veth link, plus L, which has only `lo` (no multicast-capable interface).
None has a default route. Addresses live inside the namespaces only; all of
it is deleted afterwards, also when a test fails. Code runs inside a
namespace as `ip netns exec NS python ...` child processes.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from tests.helpers import REPO_ROOT, cli_env

# Runs the real CLI (tui.cli.main); it imports only the chosen command's module.
_CLI_SHIM = (
    "import sys; import tui.cli as c; "
    "sys.exit(c.main())"
)


HAVE_IPV6 = os.path.exists("/proc/sys/net/ipv6")


def run_cli_here(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`listsync ARGS...` in this (root) namespace, through the same shim as `Namespace.cli`."""
    return subprocess.run([sys.executable, "-c", _CLI_SHIM, *args], capture_output=True,
                          text=True, timeout=timeout, env=cli_env(), cwd=REPO_ROOT)


def _run(*args: str, ns: str | None = None) -> None:
    cmd = list(args) if ns is None else ["ip", "netns", "exec", ns, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")


class Process:
    """A child process in a namespace whose stdout lines we can wait for."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, match: Callable[[str], bool], timeout: float) -> str:
        """The first stdout line (already printed or within `timeout` s) satisfying `match`."""
        for line in self.lines:
            if match(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout} s; saw {self.lines}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended ({self.popen.wait()}); saw {self.lines}; "
                                     f"stderr: {self.stderr()}")
            self.lines.append(line)
            if match(line):
                return line

    def wait_event(self, kind: str, name: str, timeout: float,
                   where: Callable[[dict[str, Any]], bool] = lambda peer: True) -> dict[str, Any]:
        """For `python -m engine.net.mdns browse`: the next `kind` event about peer `name`
        (whose peer also satisfies `where`)."""
        def wanted(line: str) -> bool:
            if not line.startswith("{"):
                return False
            event = json.loads(line)
            return bool(event["event"] == kind and event["peer"]["name"] == name
                        and where(event["peer"]))
        result: dict[str, Any] = json.loads(self.wait_for(wanted, timeout))
        return result

    def wait_advertising(self, timeout: float = 10) -> str:
        return self.wait_for(lambda line: line.startswith("advertising "), timeout)

    def events(self) -> list[dict[str, Any]]:
        """Every browse event printed so far (after the process ended: all of them)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return [json.loads(x) for x in self.lines if x.startswith('{"event": "Peer')]

    def stderr(self) -> str:
        if self.popen.poll() is None or self.popen.stderr is None:
            return ""
        return self.popen.stderr.read()

    def close(self) -> None:
        """Kill the process if it still runs, and release its pipes."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(5)
        self._pump_thread.join(5)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout)


@dataclass
class Namespace:
    name: str
    address: str | None = None  # IPv4 of its veth, None for the lo-only one
    ifname: str | None = None
    _procs: list[Process] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *args], capture_output=True,
                              text=True, timeout=timeout, env=cli_env(**env), cwd=REPO_ROOT)

    def spawn(self, *args: str) -> Process:
        popen = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=cli_env(PYTHONUNBUFFERED="1"),
            cwd=REPO_ROOT,
        )
        proc = Process(popen)
        self._procs.append(proc)
        return proc

    def advertise(self, *args: str, wait: bool = True) -> Process:
        """Start the standalone advertiser; returns once it printed "advertising"
        (with wait=False at once: call `.wait_advertising()` later)."""
        proc = self.spawn(sys.executable, "-m", "engine.net.mdns", "advertise", *args)
        if wait:
            proc.wait_advertising()
        return proc

    def browse(self, *args: str) -> Process:
        """Start the streaming browser; returns once it is listening."""
        proc = self.spawn(sys.executable, "-m", "engine.net.mdns", "browse", *args)
        proc.wait_for(lambda line: '"event": "started"' in line, 10)
        return proc

    def cli(self, *args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
        """`listsync ARGS...` inside this namespace."""
        return self.run(sys.executable, "-c", _CLI_SHIM, *args, timeout=timeout, **env)

    def kill_all(self) -> None:
        for proc in self._procs:
            proc.close()
        self._procs.clear()


@dataclass
class Lan:
    a: Namespace
    b: Namespace
    lonely: Namespace  # only `lo`

    def kill_all(self) -> None:
        for ns in (self.a, self.b, self.lonely):
            ns.kill_all()


def _create(tag: str, subnet: int) -> Lan:
    a, b, lonely = (f"ls-{tag}-{x}" for x in ("a", "b", "l"))
    va, vb = f"ls{tag}a", f"ls{tag}b"  # interface names: at most 15 bytes
    for ns in (a, b, lonely):
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "set", "lo", "up", ns=ns)
    _run("ip", "link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b)
    for ns, dev, host in ((a, va, 1), (b, vb, 2)):
        if HAVE_IPV6:  # no duplicate address detection: link-local IPv6 usable at once
            _run("sh", "-c", f"echo 0 > /proc/sys/net/ipv6/conf/{dev}/accept_dad", ns=ns)
        _run("ip", "addr", "add", f"10.231.{subnet}.{host}/24", "dev", dev, ns=ns)
        _run("ip", "link", "set", dev, "multicast", "on", "up", ns=ns)
    return Lan(Namespace(a, f"10.231.{subnet}.1", va), Namespace(b, f"10.231.{subnet}.2", vb),
               Namespace(lonely))


def _delete(tag: str) -> None:
    for x in ("a", "b", "l"):
        subprocess.run(["ip", "netns", "del", f"ls-{tag}-{x}"], capture_output=True, timeout=10)


def namespaces_unavailable(reason: str) -> NoReturn:
    """Skip the test, but fail it in CI (CI=true), where namespaces must work."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"netns tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lan() -> Iterator[Lan]:
    """Three namespaces (A, B linked by a veth; L with only lo), removed afterwards."""
    tag = f"{os.getpid() % 100000:05d}"
    reason = None
    if shutil.which("ip") is None:
        reason = "the `ip` command (iproute2) is not installed"
    elif os.geteuid() != 0:
        reason = "creating network namespaces needs root"
    created: Lan | None = None
    if reason is None:
        try:
            created = _create(tag, subnet=os.getpid() % 200 + 20)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
            _delete(tag)
            reason = f"cannot create network namespaces: {err}"
    if created is None:
        assert reason is not None
        namespaces_unavailable(reason)
    try:
        yield created
    finally:
        created.kill_all()
        _delete(tag)


@pytest.fixture
def net(lan: Lan) -> Iterator[Lan]:
    """The shared namespaces, with every process a test started killed afterwards."""
    try:
        yield lan
    finally:
        lan.kill_all()


def peers_json(ns: Namespace, *args: str, timeout: float = 3) -> list[dict[str, Any]]:
    """What `listsync peers --json --timeout T` prints inside `ns` (it must exit 0)."""
    done = ns.cli(*args, "peers", "--json", "--timeout", str(timeout), timeout=timeout + 30)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def pick_listener_url(peers: list[dict[str, Any]], *, peer_id: str | None = None,
                      name: str | None = None) -> str:
    """The sync URL of the discovered listener with that peer id and/or instance name."""
    for peer in peers:
        if peer["source"] != "mdns":
            continue
        if (peer_id is None or peer["id"] == peer_id) and (name is None or peer["name"] == name):
            return str(peer["url"])
    raise AssertionError(f"no listener matching id={peer_id} name={name} in {peers}")


def discover_listener_url(ns: Namespace, *, peer_id: str | None = None,
                          name: str | None = None, timeout: float = 3) -> str:
    """The sync URL of a listener as `listsync peers --json` in `ns` finds it.

    For the end-to-end "discover, then sync over the discovered address" test
    (after the listener merges): start `listsync serve` in namespace A (it
    advertises), call this with namespace B, then run `listsync sync <url>`
    in B and check the items arrived.
    """
    return pick_listener_url(peers_json(ns, timeout=timeout), peer_id=peer_id, name=name)
