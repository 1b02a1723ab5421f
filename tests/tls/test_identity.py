"""Listener identities: every mode loads, bad ones fail at load with one sentence."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import stat
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from engine import certs_dir
from engine.errors import ConfigError, IdentityError
from engine.net.identity import (
    fingerprint,
    generated_identity,
    generated_paths,
    load_identity,
    load_identity_file,
    pretty_fingerprint,
    replace_generated_identity,
    server_ssl_context,
)
from tests.tls.pki import issue


def _one_sentence(err: BaseException) -> None:
    text = str(err)
    assert text.endswith(".") and "\n" not in text and text[0].isupper()


def test_disabled_mode_has_no_identity(tmp_path: Path) -> None:
    assert load_identity("disabled", data_dir=tmp_path) is None


def test_anonymous_identity_is_new_at_each_start_and_never_stored(tmp_path: Path) -> None:
    first = load_identity("anonymous", data_dir=tmp_path)
    second = load_identity("anonymous", data_dir=tmp_path)
    assert first is not None and second is not None
    assert first.fingerprint != second.fingerprint
    assert list(tmp_path.iterdir()) == []


def test_bundled_sample_loads_with_its_shipped_password() -> None:
    identity = load_identity("bundled")
    assert identity is not None
    pinned = (certs_dir() / "listener-pinned-cert.cer").read_bytes()
    assert identity.fingerprint == fingerprint(pinned)
    invalid = (certs_dir() / "pinned-invalid-listener-cert.cer").read_bytes()
    assert identity.fingerprint != fingerprint(invalid)


def test_bundled_accepts_the_users_own_pkcs12_and_pem_files(tmp_path: Path) -> None:
    mine = issue(None, "shop-pi")
    p12 = tmp_path / "mine.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"mine", mine.private_key, mine.certificate, None,  # type: ignore[arg-type]
        serialization.BestAvailableEncryption(b"s3cret")))
    combined = tmp_path / "combined.pem"
    combined.write_bytes(mine.private_pem())
    cert_only, key_only = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_only.write_bytes(mine.cert_pem)
    key_only.write_bytes(mine.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"keypass")))

    loaded = [
        load_identity("bundled", path=p12, password="s3cret"),
        load_identity("bundled", path=combined),
        load_identity("bundled", path=cert_only, key_path=key_only, password=b"keypass"),
    ]
    assert {i.fingerprint for i in loaded if i} == {mine.fingerprint}


def test_generated_identity_survives_reload_with_a_0600_key_file(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even a careless umask must not widen the key file
    try:
        first = load_identity("generated", data_dir=tmp_path)
    finally:
        os.umask(old_umask)
    again = load_identity("generated", data_dir=tmp_path)
    assert first is not None and again is not None
    assert again.fingerprint == first.fingerprint
    private, public = generated_paths(tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert fingerprint(ssl.PEM_cert_to_DER_cert(public.read_text())) == first.fingerprint
    public.unlink()  # the public copy for peers to pin comes back on the next load
    load_identity("generated", data_dir=tmp_path)
    assert fingerprint(ssl.PEM_cert_to_DER_cert(public.read_text())) == first.fingerprint


def test_replacing_the_generated_identity_changes_its_fingerprint(tmp_path: Path) -> None:
    old = generated_identity(tmp_path)
    new = replace_generated_identity(tmp_path)
    assert new.fingerprint != old.fingerprint
    assert generated_identity(tmp_path).fingerprint == new.fingerprint
    assert stat.S_IMODE(generated_paths(tmp_path)[0].stat().st_mode) == 0o600


def test_a_generated_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    generated_identity(tmp_path)
    generated_paths(tmp_path)[0].chmod(0o644)
    with pytest.raises(IdentityError, match="readable by other users") as err:
        generated_identity(tmp_path)
    _one_sentence(err.value)


def test_wrong_pkcs12_password_fails_at_load() -> None:
    with pytest.raises(IdentityError, match="password is wrong") as err:
        load_identity("bundled", path=certs_dir() / "listener-identity.p12", password="nope")
    _one_sentence(err.value)


def test_a_key_that_does_not_match_its_certificate_fails_at_load(tmp_path: Path) -> None:
    a, b = issue(None, "a"), issue(None, "b")
    (tmp_path / "cert.pem").write_bytes(a.cert_pem)
    (tmp_path / "key.pem").write_bytes(b.private_pem())
    with pytest.raises(IdentityError, match="does not match its certificate") as err:
        load_identity_file(tmp_path / "cert.pem", key_path=tmp_path / "key.pem")
    _one_sentence(err.value)


@pytest.mark.parametrize(("days_from", "days_to", "words"),
                         [(-30, -1, "expired on"), (2, 30, "not valid before")])
def test_a_certificate_outside_its_dates_fails_at_load(
        tmp_path: Path, days_from: int, days_to: int, words: str) -> None:
    (tmp_path / "id.pem").write_bytes(issue(None, days_from=days_from, days_to=days_to)
                                      .private_pem())
    with pytest.raises(IdentityError, match=words) as err:
        load_identity("bundled", path=tmp_path / "id.pem")
    _one_sentence(err.value)


def test_a_generated_identity_is_checked_against_the_clock(tmp_path: Path) -> None:
    generated_identity(tmp_path)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20 * 365)
    with pytest.raises(IdentityError, match="expired"):
        load_identity("generated", data_dir=tmp_path, now=later)


def test_an_unreadable_identity_file_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="Could not read") as err:
        load_identity("bundled", path=tmp_path / "missing.p12")
    _one_sentence(err.value)
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN nonsense")
    with pytest.raises(IdentityError):
        load_identity("bundled", path=tmp_path / "junk.pem")


def test_an_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown TLS mode"):
        load_identity("fancy")


def test_fingerprints_are_lowercase_hex_with_a_pretty_form() -> None:
    identity = load_identity("anonymous")
    assert identity is not None
    assert len(identity.fingerprint) == 64 and identity.fingerprint == identity.fingerprint.lower()
    assert identity.pretty_fingerprint == pretty_fingerprint(identity.fingerprint)
    assert identity.pretty_fingerprint.replace(":", "").lower() == identity.fingerprint


def test_server_context_needs_tls_1_2_and_leaves_no_key_on_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private temp dir: other processes on the machine may make their own listsync-tls-*.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(Path(tempfile.gettempdir()).glob("listsync-tls-*"))
    identity = load_identity("anonymous")
    assert identity is not None
    ctx = server_ssl_context(identity)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert set(Path(tempfile.gettempdir()).glob("listsync-tls-*")) == before


def test_two_processes_starting_at_once_end_up_with_one_generated_identity(
        tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: generated_identity(tmp_path).fingerprint, range(8)))
    assert len(set(found)) == 1
    assert found[0] == generated_identity(tmp_path).fingerprint


def test_an_unwritable_data_dir_is_an_identity_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    with pytest.raises(IdentityError, match="Could not store the generated identity"):
        generated_identity(blocker)
