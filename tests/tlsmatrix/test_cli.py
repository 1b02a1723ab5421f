"""A representative part of the matrix through the real command line.

`listsync serve --tls MODE` runs as a subprocess (its ready line parsed);
`listsync sync URL --validation MODE` must exit 0 with the data across, or
with the right code (3 auth, 4 TLS, 5 network) and one sentence on stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.net.identity import fingerprint, generated_identity
from engine.net.identity import pretty_fingerprint as pretty
from engine.resources import certs_dir
from tests.helpers import run_cli
from tests.tlsmatrix.cli import (
    assert_refused,
    assert_synced,
    listener_data,
    make_template,
    serve,
    start_failure,
    sync,
)
from tests.tlsmatrix.pki import Pki


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("listener-template"))


@pytest.fixture
def listener(template: Path, tmp_path: Path) -> Path:
    """This test's listener data dir: a copy of the template."""
    return listener_data(template, tmp_path / "listener")

SHIPPED_PIN = certs_dir() / "listener-pinned-cert.cer"
WRONG_PIN = certs_dir() / "pinned-invalid-listener-cert.cer"


def test_disabled_shows_no_fingerprint_syncs_over_ws_and_refuses_wss(
        tmp_path: Path, listener: Path) -> None:
    with serve(listener, "--tls", "disabled") as served:
        assert served.fingerprint == "-" and served.url.startswith("ws://")
        assert_synced(sync(tmp_path / "a", served.url), tmp_path / "a")
        assert_refused(sync(tmp_path / "b", served.with_scheme("wss"), "--validation", "skip"),
                       4, tmp_path / "b")


def test_anonymous_shows_its_fingerprint_and_syncs_with_skip(
        tmp_path: Path, listener: Path) -> None:
    with serve(listener, "--tls", "anonymous") as served:
        assert served.url.startswith("wss://") and len(served.fingerprint) == 64
        assert_synced(sync(tmp_path / "a", served.url, "--validation", "skip"), tmp_path / "a")
        message = assert_refused(sync(tmp_path / "b", served.url, "--validation", "ca"), 4,
                                 tmp_path / "b")
        assert "ca validation" in message
        assert_refused(sync(tmp_path / "c", served.with_scheme("ws")), 5, tmp_path / "c")


def test_bundled_accepts_its_shipped_pin_and_refuses_the_wrong_one(
        tmp_path: Path, listener: Path) -> None:
    with serve(listener, "--tls", "bundled") as served:
        assert served.fingerprint == fingerprint(SHIPPED_PIN.read_bytes())
        assert_synced(sync(tmp_path / "a", served.url, "--validation", "pinned",
                           "--pinned-cert", str(SHIPPED_PIN)), tmp_path / "a")
        message = assert_refused(sync(tmp_path / "b", served.url, "--validation", "pinned",
                                      "--pinned-cert", str(WRONG_PIN)), 4, tmp_path / "b")
        assert "not the pinned certificate" in message


def test_a_wrong_password_is_exit_3(tmp_path: Path, listener: Path) -> None:
    with serve(listener, "--tls", "anonymous") as served:
        assert_refused(sync(tmp_path / "a", served.url, "--validation", "skip",
                            password="wrong"), 3, tmp_path / "a")


def test_a_ca_signed_identity_passes_ca_validation_with_its_ca(
        tmp_path: Path, pki: Pki, listener: Path) -> None:
    with serve(listener, "--tls", "bundled",
               "--identity", str(pki.file("ca_signed.pem"))) as served:
        assert served.fingerprint == pki.ca_signed.fingerprint
        assert_synced(sync(tmp_path / "a", served.url, "--validation", "ca",
                           "--ca-file", str(pki.file("ca.crt"))), tmp_path / "a")
        assert_refused(sync(tmp_path / "b", served.url, "--validation", "ca"), 4, tmp_path / "b")


def test_an_expired_identity_stops_serve_at_start(tmp_path: Path, pki: Pki) -> None:
    result = start_failure(tmp_path, "--tls", "bundled", "--identity", str(pki.file("expired.pem")))
    assert "expired" in assert_refused(result, 4)


def test_generated_identity_survives_a_restart_and_a_replace_is_refused_loudly(
        tmp_path: Path, listener: Path) -> None:
    data = listener
    pinned, tofu = tmp_path / "pinned-client", tmp_path / "tofu-client"
    # The pinned peer keeps its own copy of the listener's public certificate.
    pin = tmp_path / "listener-cert.pem"
    pin.write_bytes(generated_identity(data).cert_pem)
    pin_args = ("--validation", "pinned", "--pinned-cert", str(pin))

    with serve(data, "--tls", "generated") as served:
        port, old = served.port, served.fingerprint
        assert old == fingerprint(generated_identity(data).cert_der)
        assert_synced(sync(pinned, served.url, *pin_args), pinned)
        assert_synced(sync(tofu, served.url, "--validation", "tofu"), tofu)
    with serve(data, "--tls", "generated", port=port) as served:
        assert served.fingerprint == old
        assert sync(pinned, served.url, *pin_args).returncode == 0
        assert sync(tofu, served.url, "--validation", "tofu").returncode == 0

    replaced = run_cli("--data-dir", str(data), "identity", "replace")
    assert replaced.returncode == 0, replaced.stderr
    new = generated_identity(data, create=False)
    with serve(data, "--tls", "generated", port=port) as served:
        assert served.fingerprint == new.fingerprint != old
        message = assert_refused(sync(pinned, served.url, *pin_args), 4)
        assert "not the pinned certificate" in message
        message = assert_refused(sync(tofu, served.url, "--validation", "tofu"), 4)
        assert pretty(old) in message and new.pretty_fingerprint in message


def test_mutual_tls_through_serve_and_sync(tmp_path: Path, pki: Pki, listener: Path) -> None:
    with serve(listener, "--tls", "generated",
               "--client-ca", str(pki.file("client_ca.crt")),
               "--client-cert", str(pki.file("listed.crt"))) as served:
        for name in ("client_ok", "listed"):
            assert_synced(sync(tmp_path / name, served.url, "--validation", "skip",
                               "--client-identity", str(pki.file(f"{name}.pem"))),
                          tmp_path / name)
        assert "client certificate" in assert_refused(
            sync(tmp_path / "none", served.url, "--validation", "skip"), 4, tmp_path / "none")
        for name in ("client_foreign", "listed_child"):
            assert_refused(sync(tmp_path / name, served.url, "--validation", "skip",
                                "--client-identity", str(pki.file(f"{name}.pem"))),
                           4, tmp_path / name)
