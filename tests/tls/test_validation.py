"""Server validation modes over real TLS on 127.0.0.1: who is trusted, who is refused,
and a refused server never receives the credential."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest

from engine import certs_dir
from engine.errors import ConfigError, TLSValidationError
from engine.net.identity import Identity, anonymous_identity, bundled_identity, server_ssl_context
from engine.net.trust import TrustStore
from engine.net.validation import (
    ca_validation,
    client_validation,
    pinned_validation,
    skip_validation,
    tofu_validation,
)
from tests.tls.pki import issue, make_ca
from tests.tls.rig import CREDENTIAL, connect_once

pytestmark = pytest.mark.anyio
PINNED = certs_dir() / "listener-pinned-cert.cer"
WRONG_PIN = certs_dir() / "pinned-invalid-listener-cert.cer"


def _serve(identity: Identity) -> ssl.SSLContext:
    return server_ssl_context(identity)


def _refused(result: object) -> None:
    assert not result.accepted  # type: ignore[attr-defined]
    assert result.server_received != CREDENTIAL  # type: ignore[attr-defined]


async def test_skip_accepts_a_self_signed_certificate_and_warns(
        caplog: pytest.LogCaptureFixture) -> None:
    client = skip_validation("127.0.0.1", 1)
    assert "not authenticated" in caplog.text
    assert (await connect_once(_serve(anonymous_identity()), client)).accepted


@pytest.fixture
def ca(tmp_path: Path) -> tuple[Identity, Path]:
    authority = make_ca()
    path = tmp_path / "ca.pem"
    path.write_bytes(authority.cert_pem)
    return authority, path


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
async def test_ca_accepts_a_cert_it_issued_for_the_right_name(
        ca: tuple[Identity, Path], hostname: str) -> None:
    authority, ca_file = ca
    client = client_validation("ca", hostname, 443, ca_file=ca_file)
    assert (await connect_once(_serve(issue(authority)), client, hostname=hostname)).accepted


async def test_ca_refuses_a_host_name_mismatch(ca: tuple[Identity, Path]) -> None:
    authority, ca_file = ca
    server = _serve(issue(authority, "other", dns=("other.example",), ips=()))
    result = await connect_once(server, ca_validation("localhost", 443, ca_file=ca_file))
    _refused(result)
    assert "mismatch" in str(result.client_error).lower()


async def test_ca_refuses_an_expired_certificate(ca: tuple[Identity, Path]) -> None:
    authority, ca_file = ca
    server = _serve(issue(authority, days_from=-30, days_to=-1))
    result = await connect_once(server, ca_validation("localhost", 443, ca_file=ca_file))
    _refused(result)
    assert "expired" in str(result.client_error)


async def test_ca_refuses_a_self_signed_certificate(ca: tuple[Identity, Path]) -> None:
    _, ca_file = ca
    client = ca_validation("localhost", 443, ca_file=ca_file)
    result = await connect_once(_serve(issue(None)), client)
    _refused(result)
    explained = client.explain(result.client_error or Exception())
    assert isinstance(explained, TLSValidationError)
    assert "ca validation" in str(explained) and "\n" not in str(explained)


async def test_ca_without_a_file_uses_the_system_store_and_refuses_our_sample() -> None:
    result = await connect_once(_serve(bundled_identity()), ca_validation("localhost", 443))
    _refused(result)


@pytest.mark.parametrize("form", ["der", "pem"])
async def test_pinned_accepts_exactly_the_pinned_certificate(tmp_path: Path, form: str) -> None:
    pin = PINNED
    if form == "pem":
        pin = tmp_path / "pin.pem"
        pin.write_text(ssl.DER_cert_to_PEM_cert(PINNED.read_bytes()))
    client = client_validation("pinned", "127.0.0.1", 443, pinned_cert=pin)
    assert (await connect_once(_serve(bundled_identity()), client)).accepted


async def test_pinned_refuses_another_certificate_before_credentials_are_sent() -> None:
    client = pinned_validation("127.0.0.1", 443, WRONG_PIN)
    result = await connect_once(_serve(bundled_identity()), client)
    _refused(result)
    assert result.server_received == b""


def test_the_pinned_hook_compares_the_whole_certificate() -> None:
    client = pinned_validation("127.0.0.1", 443, PINNED)
    client.verify_server_cert(PINNED.read_bytes())
    with pytest.raises(TLSValidationError, match="is not the pinned one") as err:
        client.verify_server_cert(WRONG_PIN.read_bytes())
    assert str(err.value).count("SHA-256") == 2


def test_pinned_needs_a_readable_certificate(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        client_validation("pinned", "h", 1)
    with pytest.raises(TLSValidationError, match="Could not read"):
        client_validation("pinned", "h", 1, pinned_cert=tmp_path / "missing.cer")


async def test_tofu_remembers_accepts_again_and_refuses_a_changed_cert(tmp_path: Path) -> None:
    store = TrustStore.for_data_dir(tmp_path)
    first, second = anonymous_identity(), anonymous_identity()

    assert (await connect_once(_serve(first), tofu_validation("127.0.0.1", 4984, store))).accepted
    assert store.get("127.0.0.1:4984") == first.fingerprint
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert (await connect_once(_serve(first), tofu_validation("127.0.0.1", 4984, store))).accepted

    result = await connect_once(_serve(second), tofu_validation("127.0.0.1", 4984, store))
    _refused(result)
    assert result.server_received == b""
    message = str(result.client_error)
    assert isinstance(result.client_error, TLSValidationError)
    assert first.pretty_fingerprint in message and second.pretty_fingerprint in message
    assert "listsync trust forget 127.0.0.1:4984" in message

    assert store.forget("127.0.0.1:4984") and not store.forget("127.0.0.1:4984")
    client = client_validation("tofu", "127.0.0.1", 4984, data_dir=tmp_path)
    assert (await connect_once(_serve(second), client)).accepted
    assert store.get("127.0.0.1:4984") == second.fingerprint


def test_tofu_keys_peers_by_host_and_port(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "known")
    other = anonymous_identity()
    tofu_validation("LocalHost", 1, store).verify_server_cert(other.cert_der)
    tofu_validation("::1", 1, store).verify_server_cert(other.cert_der)
    tofu_validation("localhost", 2, store).verify_server_cert(anonymous_identity().cert_der)
    assert set(store.entries()) == {"localhost:1", "[::1]:1", "localhost:2"}
    with pytest.raises(TLSValidationError):
        tofu_validation("localhost", 1, store).verify_server_cert(anonymous_identity().cert_der)


def test_an_unknown_validation_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown validation mode"):
        client_validation("trust-me", "h", 1)
