"""Regenerate the sample TLS files in certs/ (run: python certs/make_certs.py).

Writes the public sample listener identity (PKCS#12 + its password), the same
certificate in DER for pinning, and a deliberately different certificate for
negative pinning tests. Everything here is public: never use it in a shop.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
PASSWORD = "listsync-sample"  # public on purpose: this identity is a sample
VALID_DAYS = 3650


def self_signed(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "listsync sample")])
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a day: Pis without a clock battery may run behind at boot.
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)
    print(f"wrote certs/{name} ({len(data)} bytes)")


def main() -> int:
    key, cert = self_signed("listsync sample listener")
    p12 = pkcs12.serialize_key_and_certificates(
        b"listsync-sample-listener", key, cert, None,
        serialization.BestAvailableEncryption(PASSWORD.encode()))
    write("listener-identity.p12", p12)
    write("listener-identity.password", (PASSWORD + "\n").encode())
    write("listener-pinned-cert.cer", cert.public_bytes(serialization.Encoding.DER))
    _, other = self_signed("listsync sample listener")  # same names, different key
    write("pinned-invalid-listener-cert.cer", other.public_bytes(serialization.Encoding.DER))
    digest = cert.fingerprint(hashes.SHA256()).hex()
    print(f"sample listener fingerprint sha256={digest}")
    return 0


if __name__ == "__main__":
    os.chdir(HERE)
    sys.exit(main())
