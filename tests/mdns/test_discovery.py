"""Real mDNS between network namespaces: adverts found, goodbyes, expiry, the CLI."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from engine.net.advertise import HOST_TTL
from tests.mdns.netns import HAVE_IPV6, Lan, peers_json, pick_listener_url

pytestmark = pytest.mark.netns

FP = "ab" * 32  # a SHA-256 hex fingerprint


def _advertise_a(net: Lan, name: str, peer_id: str, *extra: str) -> None:
    net.a.advertise("--port", "4984", "--name", name, "--id", peer_id,
                    "--txt", "db=shop", "--txt", "tls=anonymous", "--txt", f"fp={FP}", *extra)


def test_advert_in_one_namespace_is_found_from_another_within_3s(net: Lan) -> None:
    _advertise_a(net, "kitchen", "peer-a")
    browser = net.b.browse()
    started = time.monotonic()
    event = browser.wait_event("PeerAppeared", "kitchen", timeout=3)
    assert time.monotonic() - started < 3
    peer = event["peer"]
    assert peer["addresses"][0] == net.a.address
    if HAVE_IPV6:  # link-local IPv6 too, with its zone
        assert any(a.startswith("fe80::") and "%" in a for a in peer["addresses"])
    assert peer["port"] == 4984
    assert peer["txt"] == {"db": "shop", "tls": "anonymous", "fp": FP, "pv": "1", "id": "peer-a"}
    assert peer["url"] == f"wss://{net.a.address}:4984/shop"


def test_stopped_advertiser_is_gone_within_5s(net: Lan) -> None:
    advertiser = net.a.advertise("--port", "4990", "--name", "leaving", "--id", "peer-l")
    browser = net.b.browse()
    browser.wait_event("PeerAppeared", "leaving", timeout=3)
    stopped = time.monotonic()
    assert advertiser.stop(signal.SIGTERM) == 0
    browser.wait_event("PeerLeft", "leaving", timeout=5)
    assert time.monotonic() - stopped < 5


@pytest.mark.slow
def test_killed_advertiser_is_dropped_when_its_records_expire_but_live_ones_stay(
        net: Lan) -> None:
    # The shipped TTL with LISTSYNC_LONG=1; a shorter one keeps CI fast (same mechanism).
    ttl = HOST_TTL if os.environ.get("LISTSYNC_LONG") == "1" else 10
    doomed = net.a.advertise("--port", "4991", "--name", "powercut", "--id", "peer-k",
                             "--ttl", str(ttl), wait=False)
    # A live peer with a TTL far shorter than the wait below: our browser
    # re-asks before its records run out, so it must stay listed throughout.
    net.a.advertise("--port", "4992", "--name", "steady", "--id", "peer-s", "--ttl", "4")
    doomed.wait_advertising()
    browser = net.b.browse()
    browser.wait_event("PeerAppeared", "powercut", timeout=3)
    browser.wait_event("PeerAppeared", "steady", timeout=3)
    doomed.stop(signal.SIGKILL)  # no goodbye
    killed = time.monotonic()
    browser.wait_event("PeerLeft", "powercut", timeout=ttl + 5)
    gone_after = time.monotonic() - killed
    assert ttl - 2 <= gone_after <= ttl + 2  # the SRV TTL plus one cache check
    assert [e["event"] for e in browser.events() if e["peer"]["name"] == "steady"] == [
        "PeerAppeared"]


def test_our_own_advert_is_not_listed(net: Lan) -> None:
    other = net.a.advertise("--port", "4984", "--name", "other", "--id", "peer-other",
                            wait=False)
    net.b.advertise("--port", "4985", "--name", "myself", "--id", "peer-me")
    other.wait_advertising()
    mine = net.b.spawn(*_browse_for(2.5, "--id", "peer-me"))
    unfiltered = net.b.spawn(*_browse_for(2.5))
    assert mine.popen.wait(20) == 0 and unfiltered.popen.wait(20) == 0
    assert {e["peer"]["name"] for e in mine.events()} == {"other"}
    # Without our id the same browse sees both: the filter is what hid us.
    assert {e["peer"]["name"] for e in unfiltered.events()} == {"other", "myself"}


def _browse_for(seconds: float, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine.net.mdns", "browse", "--timeout", str(seconds), *args]


def test_works_without_a_default_route_by_falling_back_from_default_interface(net: Lan) -> None:
    routes = net.a.run("ip", "route", "show", "default")
    assert routes.returncode == 0 and routes.stdout.strip() == ""
    advertiser = net.a.advertise("--port", "4986", "--name", "noroute", "--id", "peer-n",
                                 "--interface", "default")
    # zeroconf's InterfaceChoice.Default failed ("No such device") and we fell back.
    assert "mode=default-fallback" in advertiser.lines[-1]
    browser = net.b.browse("--interface", "default")
    assert '"mode": "default-fallback"' in browser.lines[-1]
    event = browser.wait_event("PeerAppeared", "noroute", timeout=3)
    assert event["peer"]["addresses"][0] == net.a.address


def test_same_name_on_two_hosts_is_made_unique(net: Lan) -> None:
    first = net.a.advertise("--port", "4987", "--name", "till", "--id", "peer-t1")
    second = net.b.advertise("--port", "4987", "--name", "till", "--id", "peer-t2")
    assert "advertising till " in first.lines[-1]
    assert "advertising till-2 " in second.lines[-1]


@pytest.mark.slow
def test_new_address_is_reannounced(net: Lan) -> None:
    advertiser = net.a.advertise("--port", "4988", "--name", "moving", "--id", "peer-m",
                                 "--poll-interval", "0.5")
    browser = net.b.browse()
    browser.wait_event("PeerAppeared", "moving", timeout=3)
    new_address = net.a.address.rsplit(".", 1)[0] + ".77"
    assert net.a.run("ip", "addr", "add", f"{new_address}/24", "dev",
                     str(net.a.ifname)).returncode == 0
    try:
        advertiser.wait_for(lambda line: line.startswith("reannounced"), timeout=5)
        browser.wait_event("PeerChanged", "moving", timeout=5,
                           where=lambda peer: new_address in peer["addresses"])
    finally:
        net.a.run("ip", "addr", "del", f"{new_address}/24", "dev", str(net.a.ifname))


def test_peers_command_lists_the_advert_as_json(net: Lan, tmp_path: object) -> None:
    _advertise_a(net, "counter", "peer-c")
    peers = peers_json(net.b, "--data-dir", str(tmp_path), timeout=3)
    [peer] = [p for p in peers if p["name"] == "counter"]
    assert peer["source"] == "mdns"
    assert peer["addresses"][0] == net.a.address
    assert (peer["port"], peer["db"], peer["tls"], peer["fingerprint"]) == (4984, "shop",
                                                                           "anonymous", FP)
    assert pick_listener_url(peers, peer_id="peer-c") == f"wss://{net.a.address}:4984/shop"


def test_peers_command_prints_one_line_per_peer_and_manual_peers(net: Lan,
                                                                 tmp_path: object) -> None:
    _advertise_a(net, "backroom", "peer-br")
    data = str(tmp_path)
    assert net.b.cli("--data-dir", data, "peers", "add", "10.9.9.9:4984").returncode == 0
    done = net.b.cli("--data-dir", data, "peers", "--timeout", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"backroom  {net.a.address}:4984  db=shop  tls=anonymous  fp={FP[:16]}" in lines
    assert "10.9.9.9:4984  (added by hand)" in lines


def test_peers_without_multicast_says_so_and_exits_5(net: Lan, tmp_path: object) -> None:
    done = net.lonely.cli("--data-dir", str(tmp_path), "peers", "--timeout", "1")
    assert done.returncode == 5
    assert "Multicast does not work here" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = net.lonely.cli("--data-dir", str(tmp_path), "peers", "--json")
    assert as_json.returncode == 5 and json.loads(as_json.stdout) == []


def test_peers_with_nobody_advertising_says_no_peers_found(net: Lan, tmp_path: object) -> None:
    done = net.b.cli("--data-dir", str(tmp_path), "peers", "--timeout", "1")
    assert (done.returncode, done.stdout) == (0, "no peers found\n")


def test_advertising_on_a_chosen_interface(net: Lan) -> None:
    advertiser = net.a.advertise("--port", "4989", "--name", "picky", "--id", "peer-p",
                                 "--interface", str(net.a.ifname))
    assert "mode=selected" in advertiser.lines[-1]
    browser = net.b.browse("--interface", str(net.b.address))
    event = browser.wait_event("PeerAppeared", "picky", timeout=3)
    assert event["peer"]["addresses"][0] == net.a.address


def test_public_api_advertises_and_browses_in_one_process(net: Lan) -> None:
    net.b.advertise("--port", "4994", "--name", "remote", "--id", "api-b")
    watcher = net.b.browse()
    app = net.a.spawn(sys.executable, "-W", "error", "tests/mdns/api_script.py", "api-b")
    seen = json.loads(app.wait_for(lambda line: line.startswith("{"), timeout=10))
    assert seen["peers"] == ["api-b"]  # not "api-a", our own advert in the same process
    appeared = watcher.wait_event("PeerAppeared", "api", timeout=10)
    assert appeared["peer"]["fingerprint"] == "ab" * 32
    assert appeared["peer"]["tls"] == "generated"
    app.wait_for(lambda line: line == "updated", timeout=10)
    watcher.wait_event("PeerChanged", "api", timeout=10, where=lambda p: p["db"] == "other")
    assert app.stop(signal.SIGTERM) == 0
    watcher.wait_event("PeerLeft", "api", timeout=10)
    app.wait_for(lambda line: line == "stopped", timeout=5)
    assert app.stderr() == ""  # no warning, no traceback
