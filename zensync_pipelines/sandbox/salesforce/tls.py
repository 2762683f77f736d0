"""A throwaway certificate authority and server certificate for the HTTPS stand-in.

simple-salesforce always builds `https://` URLs from the instance URL, so the sandbox must speak TLS. Clients must
verify the certificate like they would against Salesforce; a CA written to a file they trust (session.verify or
REQUESTS_CA_BUNDLE) keeps verification on instead of teaching the code base `verify=False`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Certificates:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    # Backdated an hour so a client whose clock is slightly behind still accepts it.
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def generate() -> Certificates:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it (EC keys: fast to generate)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("zensync Salesforce sandbox CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    # Clients check the host name against subjectAltName only (the CN is ignored), hence both entries.
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    cert = (
        _builder(_name("localhost"), ca_name, key.public_key())
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Certificates(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def server_context(certs: Certificates) -> ssl.SSLContext:
    """ssl can only load a key pair from files, so they live in a private temp dir just long enough to load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="zensync-sf-tls-") as directory:
        chain = os.path.join(directory, "server.pem")
        with open(chain, "wb") as handle:
            handle.write(certs.cert_pem + certs.key_pem)
        context.load_cert_chain(chain)
    return context


def write_ca(certs: Certificates, path: str) -> None:
    """Written via a temp file and rename so a client never reads a half-written bundle."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".ca-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(certs.ca_pem)
    os.replace(temp, path)
