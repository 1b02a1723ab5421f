"""A representative part of the matrix through the real command line.

`listsync serve --tls MODE` runs as a subprocess (its ready line parsed);
`listsync sync URL --validation MODE` must exit 0 with the data across, or
with the right code (3 auth, 4 TLS, 5 network) and one sentence on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.net.identity import fingerprint, generated_identity
from engine.net.identity import pretty_fingerprint as pretty
from engine.resources import certs_dir
from tests.helpers import run_cli
from tests.tlsmatrix.cli import (
    add_doc,
    assert_refused,
    assert_synced,
    data_dir,
    has_probe,
    make_templates,
    serve,
    start_failure,
    sync,
)
from tests.tlsmatrix.pki import Pki

Peer = Callable[[str], Path]  # name -> that replicator's data dir


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def listener(templates: Path, tmp_path: Path) -> Path:
    """This test's listener data dir (its database holds the probe document)."""
    return data_dir(templates, "listener", tmp_path / "listener")


@pytest.fixture
def peer(templates: Path, tmp_path: Path) -> Peer:
    """peer(name): that replicator's data dir, made on first use."""
    return lambda name: data_dir(templates, "client", tmp_path / name)

SHIPPED_PIN = certs_dir() / "listener-pinned-cert.cer"
WRONG_PIN = certs_dir() / "pinned-invalid-listener-cert.cer"


def test_disabled_shows_no_fingerprint_syncs_over_ws_and_refuses_wss(
        peer: Peer, listener: Path) -> None:
    with serve(listener, "--tls", "disabled") as served:
        assert served.fingerprint == "-" and served.url.startswith("ws://")
        assert_synced(sync(peer("a"), served.url), peer("a"))
        message = assert_refused(sync(peer("b"), served.with_scheme("wss"), "--validation",
                                      "skip"), 4, peer("b"))
        assert "ws://" in message
        # Certificate checks asked for on a ws:// URL: refused before connecting.
        message = assert_refused(sync(peer("c"), served.url, "--validation", "pinned",
                                      "--pinned-cert", str(SHIPPED_PIN)), 2, peer("c"))
        assert "wss://" in message


def test_anonymous_shows_its_fingerprint_syncs_with_skip_and_refuses_ca_and_ws(
        peer: Peer, listener: Path) -> None:
    with serve(listener, "--tls", "anonymous") as served:
        assert served.url.startswith("wss://") and len(served.fingerprint) == 64
        assert_synced(sync(peer("a"), served.url, "--validation", "skip"), peer("a"))
        message = assert_refused(sync(peer("b"), served.url, "--validation", "ca"), 4, peer("b"))
        assert "ca validation" in message
        message = assert_refused(sync(peer("c"), served.with_scheme("ws")), 5, peer("c"))
        assert "wss://" in message
        assert_refused(sync(peer("d"), served.url, "--validation", "skip", password="wrong"),
                       3, peer("d"))


def test_bundled_accepts_its_shipped_pin_and_refuses_the_wrong_one(
        peer: Peer, listener: Path) -> None:
    with serve(listener, "--tls", "bundled") as served:
        assert served.fingerprint == fingerprint(SHIPPED_PIN.read_bytes())
        assert_synced(sync(peer("a"), served.url, "--validation", "pinned",
                           "--pinned-cert", str(SHIPPED_PIN)), peer("a"))
        message = assert_refused(sync(peer("b"), served.url, "--validation", "pinned",
                                      "--pinned-cert", str(WRONG_PIN)), 4, peer("b"))
        assert "not the pinned certificate" in message


def test_a_ca_signed_identity_passes_ca_validation_with_its_ca(
        peer: Peer, pki: Pki, listener: Path) -> None:
    with serve(listener, "--tls", "bundled",
               "--identity", str(pki.file("ca_signed.pem"))) as served:
        assert served.fingerprint == pki.ca_signed.fingerprint
        assert_synced(sync(peer("a"), served.url, "--validation", "ca",
                           "--ca-file", str(pki.file("ca.crt"))), peer("a"))
        assert_refused(sync(peer("b"), served.url, "--validation", "ca"), 4, peer("b"))


def test_an_expired_identity_stops_serve_at_start(tmp_path: Path, pki: Pki) -> None:
    result = start_failure(tmp_path, "--tls", "bundled", "--identity", str(pki.file("expired.pem")))
    assert "expired" in assert_refused(result, 4)


def test_generated_identity_survives_a_restart_and_a_replace_is_refused_loudly(
        tmp_path: Path, peer: Peer, listener: Path) -> None:
    pinned, tofu = peer("pinned-client"), peer("tofu-client")
    # The pinned peer keeps its own copy of the listener's public certificate.
    pin = tmp_path / "listener-cert.pem"
    pin.write_bytes(generated_identity(listener).cert_pem)
    pin_args = ("--validation", "pinned", "--pinned-cert", str(pin))

    with serve(listener, "--tls", "generated") as served:
        port, old = served.port, served.fingerprint
        assert old == fingerprint(generated_identity(listener).cert_der)
        assert_synced(sync(pinned, served.url, *pin_args), pinned)
        assert_synced(sync(tofu, served.url, "--validation", "tofu"), tofu)
    with serve(listener, "--tls", "generated", port=port) as served:
        assert served.fingerprint == old
        assert sync(pinned, served.url, *pin_args).returncode == 0
        assert sync(tofu, served.url, "--validation", "tofu").returncode == 0

    replaced = run_cli("--data-dir", str(listener), "identity", "replace")
    assert replaced.returncode == 0, replaced.stderr
    new = generated_identity(listener, create=False)
    add_doc(listener, "after-replace")
    with serve(listener, "--tls", "generated", port=port) as served:
        assert served.fingerprint == new.fingerprint != old
        message = assert_refused(sync(pinned, served.url, *pin_args), 4)
        assert "not the pinned certificate" in message
        message = assert_refused(sync(tofu, served.url, "--validation", "tofu"), 4)
        assert pretty(old) in message and new.pretty_fingerprint in message
    assert not has_probe(pinned, "after-replace") and not has_probe(tofu, "after-replace")


def test_mutual_tls_through_serve_and_sync(peer: Peer, pki: Pki, listener: Path) -> None:
    kiosk = peer("kiosk")  # presents its own generated identity, listed by exact cert
    kiosk_cert = pki.folder / "kiosk.crt"
    kiosk_cert.write_bytes(generated_identity(kiosk).cert_pem)
    with serve(listener, "--tls", "generated", "--client-ca", str(pki.file("client_ca.crt")),
               "--client-cert", str(pki.file("listed.crt")),
               "--client-cert", str(kiosk_cert)) as served:
        assert_synced(sync(peer("ok"), served.url, "--validation", "skip",
                           "--client-identity", str(pki.file("client_ok.pem"))), peer("ok"))
        assert_synced(sync(kiosk, served.url, "--validation", "skip",
                           "--client-identity", "generated"), kiosk)
        message = assert_refused(sync(peer("none"), served.url, "--validation", "skip"), 4,
                                 peer("none"))
        assert "client certificate" in message
        for name in ("client_foreign", "listed_child"):
            assert_refused(sync(peer(name), served.url, "--validation", "skip",
                                "--client-identity", str(pki.file(f"{name}.pem"))),
                           4, peer(name))
