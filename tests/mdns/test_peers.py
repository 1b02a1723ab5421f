"""Plain unit tests: manual peers, the merged view, URLs, TXT decoding, interface choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import (
    ConfigError,
    DiscoveredPeer,
    ManualPeer,
    ManualPeers,
    UsageError,
    fingerprint_hint_mismatch,
    merged_peers,
)
from engine.net.advertise import _fit_label, _server_name
from engine.net.browse import decode_txt
from engine.net.interfaces import (
    Interface,
    advertised_addresses,
    select_interfaces,
    zeroconf_interfaces,
)
from tests.mdns.netns import namespaces_unavailable, run_cli_here


def _peer(**changes: object) -> DiscoveredPeer:
    fields: dict[str, object] = {
        "name": "alice@pi", "host": "pi-1234abcd.local.", "addresses": ("10.0.0.5", "fe80::1%eth0"),
        "port": 4984, "txt": {"db": "shop", "tls": "anonymous", "fp": "ab" * 32, "id": "p1"},
    }
    fields.update(changes)
    return DiscoveredPeer(**fields)  # type: ignore[arg-type]


def test_manual_peers_persist_across_reopen(tmp_path: Path) -> None:
    peers = ManualPeers(tmp_path)
    assert peers.add("10.0.0.7:4984") is True
    assert peers.add(ManualPeer("till.local", 5000)) is True
    assert peers.add("10.0.0.7:4984") is False  # already there
    assert peers.add("[fe80::1%eth0]:4984") is True

    reopened = ManualPeers(tmp_path)
    assert [str(p) for p in reopened.list()] == ["10.0.0.7:4984", "till.local:5000",
                                                 "[fe80::1%eth0]:4984"]
    assert reopened.remove("till.local:5000") is True
    assert reopened.remove("till.local:5000") is False
    assert [str(p) for p in ManualPeers(tmp_path).list()] == ["10.0.0.7:4984",
                                                              "[fe80::1%eth0]:4984"]


def test_manual_peers_given_as_urls_keep_whether_they_use_tls(tmp_path: Path) -> None:
    peers = ManualPeers(tmp_path)
    assert peers.add("wss://10.0.0.7:4984/userdb") is True  # as a listener screen shows it
    assert peers.add("10.0.0.7:4984") is False  # the same peer: TLS is the default
    assert peers.add("ws://till.local:5000") is True
    reopened = ManualPeers(tmp_path).list()
    assert [str(p) for p in reopened] == ["10.0.0.7:4984", "ws://till.local:5000"]
    assert [p.as_peer().url("userdb") for p in reopened] == [
        "wss://10.0.0.7:4984/userdb", "ws://till.local:5000/userdb"]


def test_no_manual_peers_file_means_no_manual_peers(tmp_path: Path) -> None:
    assert ManualPeers(tmp_path / "not-yet").list() == []


@pytest.mark.parametrize("text", ["10.0.0.7", "10.0.0.7:0", "10.0.0.7:99999", ":4984",
                                  "fe80::1:4984", "[nonsense]:4984", "host:port",
                                  "http://10.0.0.7:4984"])
def test_malformed_manual_peers_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError):
        ManualPeers(tmp_path).add(text)
    assert ManualPeers(tmp_path).list() == []


def test_damaged_manual_peers_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ManualPeers.FILE_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="manual peers"):
        ManualPeers(tmp_path).list()


def test_merged_view_lists_discovered_then_manual_without_duplicates() -> None:
    found = [_peer(name="zed", addresses=("10.0.0.9",)), _peer()]
    manual = [ManualPeer("10.0.0.5", 4984), ManualPeer("10.0.0.8", 4984)]
    merged = merged_peers(found, manual)
    assert [(p.name, p.source) for p in merged] == [
        ("alice@pi", "mdns"), ("zed", "mdns"), ("10.0.0.8:4984", "manual")]
    assert merged[2].url() == "wss://10.0.0.8:4984/userdb"


def test_url_uses_the_advertised_db_and_tls_mode() -> None:
    assert _peer().url() == "wss://10.0.0.5:4984/shop"
    assert _peer().url("other") == "wss://10.0.0.5:4984/other"
    assert _peer(txt={"tls": "disabled"}).url() == "ws://10.0.0.5:4984/userdb"
    assert _peer(addresses=("fe80::1%eth0",)).url() == "wss://[fe80::1%25eth0]:4984/shop"


def test_fingerprint_hint_flags_only_a_real_mismatch() -> None:
    peer = _peer()
    assert fingerprint_hint_mismatch(peer, "AB" * 32) is False  # case and colons do not matter
    assert fingerprint_hint_mismatch(peer, ":".join(["ab"] * 32)) is False
    assert fingerprint_hint_mismatch(peer, "cd" * 32) is True
    assert fingerprint_hint_mismatch(peer, None) is False  # nothing remembered yet
    assert fingerprint_hint_mismatch(_peer(txt={"tls": "disabled"}), "cd" * 32) is False


def test_txt_records_decode_to_a_dict_first_key_wins() -> None:
    raw = b"\x05db=ab\x06tls=on\x05DB=zz\x04flag\x00\x07pv=\xc3\xa9x"
    assert decode_txt(raw) == {"db": "ab", "tls": "on", "flag": "", "pv": "éx"}


def test_instance_names_fit_one_dns_label_and_hosts_are_unique_per_peer() -> None:
    assert _fit_label("alice@pi.kitchen") == "alice@pi-kitchen"
    long = _fit_label("ä" * 40)
    assert len(long.encode()) <= 59 and long == "ä" * 29
    assert _server_name("1A2B3C4D5E6F").endswith("-1a2b3c4d.local.")


_LO = Interface("lo", 1, True, True, False, ("127.0.0.1",), ("::1",))
_ETH = Interface("eth0", 2, True, False, True, ("10.0.0.5",), ("fd00::5", "fe80::5%eth0"))
_WLAN = Interface("wlan0", 3, True, False, True, ("10.1.0.5",), ())
_DOWN = Interface("eth1", 4, False, False, True, ("10.2.0.5",), ())


def test_every_usable_interface_is_chosen_by_default_but_not_loopback_or_down() -> None:
    chosen = select_interfaces(None, [_LO, _ETH, _WLAN, _DOWN])
    assert [i.name for i in chosen] == ["eth0", "wlan0"]
    assert zeroconf_interfaces(chosen) == ["10.0.0.5", "10.1.0.5", 2]
    assert advertised_addresses(chosen, [_LO, _ETH]) == [
        "10.0.0.5", "10.1.0.5", "fd00::5", "fe80::5%eth0"]


def test_loopback_is_advertised_only_when_nothing_else_exists() -> None:
    assert advertised_addresses([], [_LO]) == ["127.0.0.1", "::1"]


def test_interfaces_can_be_picked_by_name_or_address() -> None:
    present = [_LO, _ETH, _WLAN]
    assert [i.name for i in select_interfaces(["wlan0"], present)] == ["wlan0"]
    [only] = select_interfaces(["10.0.0.5"], present)
    assert (only.name, only.ipv4, only.ipv6) == ("eth0", ("10.0.0.5",), ())
    with pytest.raises(ConfigError, match="eth9"):
        select_interfaces(["eth9"], present)


def test_missing_namespaces_skip_locally_but_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no netns"):
        namespaces_unavailable("no netns")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no netns"):
        namespaces_unavailable("no netns")


def test_peers_add_and_forget_on_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path)
    added = run_cli_here("--data-dir", data, "peers", "add", "10.0.0.7:4984")
    assert (added.returncode, added.stdout) == (0, "added 10.0.0.7:4984\n")
    bad = run_cli_here("--data-dir", data, "peers", "add", "10.0.0.7")
    assert bad.returncode == 2
    assert bad.stderr == "listsync: '10.0.0.7' is not HOST:PORT (IPv6 as [ADDRESS]:PORT).\n"
    assert [str(p) for p in ManualPeers(tmp_path).list()] == ["10.0.0.7:4984"]
    forgot = run_cli_here("--data-dir", data, "peers", "forget", "10.0.0.7:4984")
    assert (forgot.returncode, forgot.stdout) == (0, "forgot 10.0.0.7:4984\n")
    assert ManualPeers(tmp_path).list() == []
