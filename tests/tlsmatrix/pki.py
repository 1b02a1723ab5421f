"""The session's throwaway PKI: a CA, leaves it issues, odd listener and client certs.

Made once per test session (EC P-256 keys are quick, but not free) and written
to files, since the CLI and `--identity` / `--ca-file` take paths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from engine.net.identity import Identity
from tests.tls.pki import NOW, issue, make_ca


def ca_capable_client_cert(cn: str) -> Identity:
    """A self-signed CA:TRUE cert also fit for TLS client auth: listed as allowed, it
    lets TLS accept anything it signs, which `ClientAuth.check_peer` must refuse."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(cert, key, (), cn)


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Identity  # the CA replicators trust with --validation ca --ca-file
    ca_signed: Identity  # a listener cert from `ca` for localhost and 127.0.0.1
    wrong_host: Identity  # from `ca`, but for elsewhere.example only
    expired: Identity  # self-signed, expired yesterday
    expired_ca_signed: Identity  # from `ca`, expired yesterday
    foreign: Identity  # for 127.0.0.1, from a CA nobody here trusts
    client_ca: Identity  # the CA a mutual-TLS listener trusts for client certs
    client_ok: Identity  # issued by client_ca
    client_foreign: Identity  # issued by another CA
    listed: Identity  # CA-capable self-signed client cert, allowed by exact cert
    listed_child: Identity  # signed by `listed`: passes TLS, must fail check_peer

    def file(self, name: str) -> Path:
        """`<name>.pem` (key + cert) and `<name>.crt` (cert only) exist for every field."""
        return self.folder / name


def make_pki(folder: Path) -> Pki:
    ca, stranger, client_ca, other_client_ca = (make_ca("listsync test CA"), make_ca("stranger"),
                                               make_ca("client CA"), make_ca("other client CA"))
    listed = ca_capable_client_cert("listed kiosk")
    pki = Pki(
        folder=folder, ca=ca,
        ca_signed=issue(ca, "localhost"),
        wrong_host=issue(ca, "elsewhere.example", dns=("elsewhere.example",), ips=()),
        expired=issue(None, "localhost", days_from=-30, days_to=-1),
        expired_ca_signed=issue(ca, "localhost", days_from=-30, days_to=-1),
        foreign=issue(stranger, "localhost"),
        client_ca=client_ca,
        client_ok=issue(client_ca, "kiosk 1", client=True),
        client_foreign=issue(other_client_ca, "kiosk 2", client=True),
        listed=listed,
        listed_child=issue(listed, "kiosk 3", client=True),
    )
    for name, value in vars(pki).items():
        if isinstance(value, Identity):
            (folder / f"{name}.pem").write_bytes(value.private_pem())
            (folder / f"{name}.crt").write_bytes(value.cert_pem)
    return pki
