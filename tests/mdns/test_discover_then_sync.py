"""End to end across two hosts: `serve` in namespace A advertises, B discovers it with
`listsync peers`, then syncs over the discovered address with first-use trust."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.mdns.netns import Lan, discover_listener_url

pytestmark = pytest.mark.netns


def test_a_listener_found_over_mdns_is_synced_with_over_the_discovered_address(
        net: Lan, tmp_path: Path) -> None:
    a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")
    done = net.a.cli("--data-dir", a_dir, "--user", "bob", "adjust", "Apples", "-3")
    assert done.returncode == 0, done.stderr
    serve = net.a.spawn(sys.executable, "-m", "tui", "--data-dir", a_dir, "--user", "bob",
                        "serve", "--tls", "generated", "--name", "kitchen-pi")
    ready = serve.wait_for(lambda line: line.startswith("listening "), 30)
    fingerprint = ready.split("fingerprint=")[1]

    url = discover_listener_url(net.b, name="kitchen-pi", timeout=3)
    assert url.startswith(f"wss://{net.a.address}:")
    assert url.endswith("/userdb")

    synced = net.b.cli("--data-dir", b_dir, "--user", "bob", "sync", url,
                       "--validation", "tofu", LISTSYNC_PASSWORD="password", timeout=60)
    assert synced.returncode == 0, synced.stderr
    items = net.b.cli("--data-dir", b_dir, "--user", "bob", "items", "--json")
    apples = next(i for i in json.loads(items.stdout) if i["key"] == "Apples")
    assert apples["value"] == 7
    # tofu remembered exactly the certificate the listener announced on its ready line.
    trusted = net.b.cli("--data-dir", b_dir, "trust", "list")
    assert fingerprint[:16].lower() in trusted.stdout.replace(":", "").lower()
    assert serve.stop() == 0


def test_an_advert_whose_fingerprint_differs_from_the_tofu_one_is_flagged(
        net: Lan, tmp_path: Path) -> None:
    a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")
    serve = net.a.spawn(sys.executable, "-m", "tui", "--data-dir", a_dir, "--user", "bob",
                        "serve", "--tls", "generated", "--name", "till-2")
    ready = serve.wait_for(lambda line: line.startswith("listening "), 30)
    port = ready.split()[1].rsplit(":", 1)[1].split("/")[0]
    other = "ab" * 32  # what B believes it trusted earlier: not the advertised certificate
    done = net.b.cli("--data-dir", b_dir, "trust", "add", f"{net.a.address}:{port}", other)
    assert done.returncode == 0, done.stderr

    listed = net.b.cli("--data-dir", b_dir, "peers", "--json", "--timeout", "3")
    peer = next(p for p in json.loads(listed.stdout) if p["name"] == "till-2")
    assert peer["fingerprint_mismatch"] is True
    text = net.b.cli("--data-dir", b_dir, "peers", "--timeout", "3")
    assert "fingerprint differs from the one trusted on first use" in text.stdout
    # The handshake, not the advert, refuses: tofu sync fails with the TLS exit code.
    synced = net.b.cli("--data-dir", b_dir, "--user", "bob", "sync", peer["url"],
                       "--validation", "tofu", LISTSYNC_PASSWORD="password", timeout=60)
    assert synced.returncode == 4, synced.stderr
    assert serve.stop() == 0
