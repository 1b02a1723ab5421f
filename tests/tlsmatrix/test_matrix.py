"""The TLS matrix at library level: every listener identity against every validation mode.

Real `make_listener` and `make_connector` over 127.0.0.1. Each cell asserts the
outcome (a sync completes and both documents crossed, or the exact error
class), that nothing was exchanged on refusal, and that a refusal by the
replicator left the listener's password check untouched: no credential reached it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from engine.errors import AuthError, EngineError, NetworkError, TLSValidationError
from engine.net.identity import (
    Identity,
    anonymous_identity,
    bundled_identity,
    load_identity,
    server_ssl_context,
)
from engine.net.trust import TrustStore
from engine.resources import certs_dir
from tests.tlsmatrix.pki import Pki
from tests.tlsmatrix.rig import USER, Outcome, attempt, serving

pytestmark = pytest.mark.anyio

OK = None
TLS = TLSValidationError
VALIDATIONS = ("skip", "ca", "pinned", "tofu")
# listener identity -> expected outcome for skip, ca (trusting the test CA), pinned
# (to the listener's own cert), tofu (first use). skip takes any cert; ca needs a
# chain to the test CA and the host name; pinned the exact, unexpired cert; tofu
# takes the first cert it sees. wss:// to a plaintext listener fails the handshake.
MATRIX: dict[str, tuple[type[EngineError] | None, ...]] = {
    "disabled": (TLS, TLS, TLS, TLS),
    "anonymous": (OK, TLS, OK, OK),
    "bundled": (OK, TLS, OK, OK),
    "generated": (OK, TLS, OK, OK),
    "ca_signed": (OK, OK, OK, OK),
    "wrong_host": (OK, TLS, OK, OK),
    "expired": (OK, TLS, TLS, OK),
    "expired_ca_signed": (OK, TLS, TLS, OK),
    "foreign": (OK, TLS, OK, OK),
}
CELLS = [(listener, validation, expected)
         for listener, row in MATRIX.items()
         for validation, expected in zip(VALIDATIONS, row, strict=True)]


def listener_identity(name: str, pki: Pki, generated_dir: Path) -> Identity | None:
    """As `serve --tls MODE` loads it; odd certs through `--tls bundled --identity FILE`."""
    if name in ("disabled", "anonymous", "bundled", "generated"):
        return load_identity(name, data_dir=generated_dir)
    if name.startswith("expired"):
        return getattr(pki, name)  # type: ignore[no-any-return]  # serve refuses to load it
    return load_identity("bundled", path=pki.file(f"{name}.pem"))


def assert_refused(outcome: Outcome, kind: type[EngineError], *, credentials_sent: bool = False,
                   ) -> None:
    assert type(outcome.error) is kind, outcome.error
    assert outcome.nothing_exchanged
    assert outcome.auth_calls == ([USER] if credentials_sent else [])


@pytest.mark.parametrize(("listener", "validation", "expected"), CELLS,
                         ids=[f"{cell[0]}-{cell[1]}" for cell in CELLS])
async def test_cell(listener: str, validation: str, expected: type[EngineError] | None,
                    tmp_path: Path, pki: Pki, generated_dir: Path) -> None:
    identity = listener_identity(listener, pki, generated_dir)
    ctx = server_ssl_context(identity) if identity is not None else None
    pinned = (identity or bundled_identity()).certificate.public_bytes(
        serialization.Encoding.DER)
    async with serving(tmp_path, ctx) as served:
        outcome = await attempt(tmp_path, served, validation, url=served.url(scheme="wss"),
                                ca_file=pki.file("ca.crt"), pinned=pinned)
    if expected is None:
        assert outcome.error is None
        assert outcome.synced and outcome.auth_calls == [USER]
    else:
        assert_refused(outcome, expected)


async def test_a_plaintext_listener_syncs_over_ws(tmp_path: Path) -> None:
    async with serving(tmp_path, None) as served:
        outcome = await attempt(tmp_path, served, None)
    assert outcome.synced


async def test_ws_to_a_tls_listener_is_a_network_error_that_reaches_no_password_check(
        tmp_path: Path) -> None:
    async with serving(tmp_path, server_ssl_context(anonymous_identity())) as served:
        outcome = await attempt(tmp_path, served, None, url=served.url(scheme="ws"))
    assert_refused(outcome, NetworkError)
    assert "wss://" in str(outcome.error)


async def test_wss_to_a_plaintext_listener_fails_the_handshake(tmp_path: Path) -> None:
    async with serving(tmp_path, None) as served:
        outcome = await attempt(tmp_path, served, "skip", url=served.url(scheme="wss"))
    assert_refused(outcome, TLSValidationError)
    assert "does not speak TLS" in str(outcome.error) and "ws://" in str(outcome.error)


async def test_a_wrong_pin_is_refused_and_named_as_such(tmp_path: Path) -> None:
    wrong = certs_dir() / "pinned-invalid-listener-cert.cer"
    async with serving(tmp_path, server_ssl_context(bundled_identity())) as served:
        outcome = await attempt(tmp_path, served, "pinned", pinned=wrong)
    assert_refused(outcome, TLSValidationError)
    assert "not the pinned certificate" in str(outcome.error) and str(wrong) in str(outcome.error)


async def test_a_pinned_cert_file_as_shipped_is_accepted(tmp_path: Path) -> None:
    async with serving(tmp_path, server_ssl_context(bundled_identity())) as served:
        outcome = await attempt(tmp_path, served, "pinned",
                                pinned=certs_dir() / "listener-pinned-cert.cer")
    assert outcome.synced


async def test_ca_validation_against_the_system_store_refuses_a_self_signed_listener(
        tmp_path: Path) -> None:
    async with serving(tmp_path, server_ssl_context(anonymous_identity())) as served:
        outcome = await attempt(tmp_path, served, "ca")
    assert_refused(outcome, TLSValidationError)
    assert "system CA store" in str(outcome.error)


async def test_ca_validation_names_a_host_name_mismatch(tmp_path: Path, pki: Pki) -> None:
    ctx = server_ssl_context(pki.wrong_host)
    async with serving(tmp_path, ctx) as served:
        outcome = await attempt(tmp_path, served, "ca", ca_file=pki.file("ca.crt"))
    assert_refused(outcome, TLSValidationError)
    assert "mismatch" in str(outcome.error).lower()


async def test_tofu_remembers_the_first_cert_and_refuses_a_new_one_with_both_fingerprints(
        tmp_path: Path) -> None:
    first, second = anonymous_identity(), anonymous_identity()
    trust = TrustStore(tmp_path / "known_peers")
    async with serving(tmp_path, server_ssl_context(first)) as served:
        port = served.port
        assert (await attempt(tmp_path, served, "tofu", trust=trust)).synced
        assert (await attempt(tmp_path, served, "tofu", trust=trust)).synced
    assert trust.entries() == {f"127.0.0.1:{port}": first.fingerprint}
    # The same address now answers with another certificate (a restart in anonymous mode).
    async with serving(tmp_path, server_ssl_context(second), port=port) as served:
        outcome = await attempt(tmp_path, served, "tofu", trust=trust)
    assert_refused(outcome, TLSValidationError)
    message = str(outcome.error)
    assert first.pretty_fingerprint in message and second.pretty_fingerprint in message
    assert trust.entries() == {f"127.0.0.1:{port}": first.fingerprint}


@pytest.mark.parametrize("mode", ["disabled", "anonymous", "bundled", "generated"])
async def test_a_wrong_password_is_an_auth_error_in_every_tls_mode(
        mode: str, tmp_path: Path, generated_dir: Path) -> None:
    identity = load_identity(mode, data_dir=generated_dir)
    ctx = server_ssl_context(identity) if identity else None
    async with serving(tmp_path, ctx) as served:
        outcome = await attempt(tmp_path, served, "skip", password="not-the-password")
    assert_refused(outcome, AuthError, credentials_sent=True)



async def test_an_expired_pinned_cert_is_refused_as_expired_not_as_a_stranger(
        tmp_path: Path, pki: Pki) -> None:
    async with serving(tmp_path, server_ssl_context(pki.expired)) as served:
        outcome = await attempt(tmp_path, served, "pinned", pinned=pki.expired.cert_der)
    assert_refused(outcome, TLSValidationError)
    assert "is the pinned one" in str(outcome.error) and "expired" in str(outcome.error)


async def test_a_pkcs12_identity_from_a_ca_serves_like_its_pem(tmp_path: Path, pki: Pki) -> None:
    p12 = tmp_path / "listener.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"listener", pki.ca_signed.private_key, pki.ca_signed.certificate, [pki.ca.certificate],
        serialization.BestAvailableEncryption(b"secret")))
    identity = load_identity("bundled", path=p12, password="secret")
    assert identity is not None and identity.fingerprint == pki.ca_signed.fingerprint
    async with serving(tmp_path, server_ssl_context(identity)) as served:
        outcome = await attempt(tmp_path, served, "ca", ca_file=pki.file("ca.crt"))
    assert outcome.synced


@pytest.mark.parametrize("mode", ["bundled", "generated"])
async def test_ca_validation_trusting_the_listeners_own_cert_as_ca_file_syncs(
        mode: str, tmp_path: Path, generated_dir: Path) -> None:
    identity = load_identity(mode, data_dir=generated_dir)
    assert identity is not None
    (tmp_path / "own.pem").write_bytes(identity.cert_pem)
    async with serving(tmp_path, server_ssl_context(identity)) as served:
        outcome = await attempt(tmp_path, served, "ca", ca_file=tmp_path / "own.pem")
    assert outcome.synced
