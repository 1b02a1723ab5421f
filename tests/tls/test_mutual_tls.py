"""Mutual TLS: a listener that demands a client certificate from a CA or a list."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError, TLSValidationError
from engine.net.identity import Identity, anonymous_identity, server_ssl_context
from engine.net.validation import ClientAuth, skip_validation
from tests.tls.pki import issue, make_ca
from tests.tls.rig import CREDENTIAL, Result, connect_once

pytestmark = pytest.mark.anyio


async def _connect(client_auth: ClientAuth, client_identity: Identity | None) -> Result:
    server = server_ssl_context(anonymous_identity(), client_auth=client_auth)
    client = skip_validation("127.0.0.1", 1, identity=client_identity)
    return await connect_once(server, client, client_auth=client_auth)


def _refused_by_server(result: Result) -> None:
    assert result.server_error is not None
    assert result.server_received != CREDENTIAL


async def test_a_client_without_a_certificate_is_refused() -> None:
    _refused_by_server(await _connect(ClientAuth(ca_certs=(make_ca().cert_der,)), None))


async def test_a_client_cert_from_the_wrong_ca_is_refused() -> None:
    ours, theirs = make_ca("our CA"), make_ca("their CA")
    result = await _connect(ClientAuth(ca_certs=(ours.cert_der,)),
                            issue(theirs, "kiosk", client=True))
    _refused_by_server(result)


async def test_a_client_cert_from_the_right_ca_is_accepted() -> None:
    ours = make_ca("our CA")
    result = await _connect(ClientAuth(ca_certs=(ours.cert_der,)), issue(ours, "kiosk",
                                                                         client=True))
    assert result.accepted
    assert result.server_saw_client_cert is not None


async def test_a_listed_self_signed_client_cert_is_accepted_and_others_refused(
        tmp_path: Path) -> None:
    kiosk, stranger = anonymous_identity(), anonymous_identity()
    (tmp_path / "kiosk.pem").write_bytes(kiosk.cert_pem)
    auth = ClientAuth.from_files(allowed_cert_files=[tmp_path / "kiosk.pem"])
    assert auth.fingerprints == {kiosk.fingerprint}
    assert (await _connect(auth, kiosk)).accepted
    _refused_by_server(await _connect(auth, stranger))


def test_check_peer_refuses_a_cert_signed_by_a_listed_cert() -> None:
    # A listed cert that is CA-capable lets TLS accept what it signed; the
    # fingerprint check after the handshake still refuses it.
    listed = make_ca("a CA:TRUE self-signed client cert")
    auth = ClientAuth(allowed_certs=(listed.cert_der,))
    auth.check_peer(listed.cert_der)
    with pytest.raises(TLSValidationError, match="not allowed"):
        auth.check_peer(issue(listed, "child", client=True).cert_der)
    with pytest.raises(TLSValidationError, match="no certificate"):
        auth.check_peer(None)


def test_client_auth_needs_something_to_trust() -> None:
    with pytest.raises(ConfigError):
        ClientAuth()
