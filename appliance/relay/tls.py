"""Certificates on the box: the visitor certificate for the public chat host name
(imported, or from ACME), and a private CA of the box for the console on its
overlay address (staff install that CA once, from their device bundle)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.core.box import write_private

TLS_DIR = "tls"
VISITOR_CERT, VISITOR_KEY = "visitor.pem", "visitor.key"
CA_CERT, CA_KEY = "console-ca.pem", "console-ca.key"
CONSOLE_CERT, CONSOLE_KEY = "console.pem", "console.key"
_CA_DAYS = 3650
_CONSOLE_DAYS = 825  # the longest validity browsers accept


class CertificateError(ValueError):
    """A certificate or key that cannot be used."""


def tls_dir(data_dir: Path) -> Path:
    """Return the folder of the box's certificates."""
    path = data_dir / TLS_DIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def import_visitor_certificate(
    data_dir: Path, cert_pem: bytes, key_pem: bytes, hostname: str | None
) -> x509.Certificate:
    """Check that key and certificate match (and name the host); store both."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError as err:
        raise CertificateError(f"cannot read the certificate or key: {err}") from err
    leaf = chain[0]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ) != leaf.public_key().public_bytes(serialization.Encoding.DER, pub):
        raise CertificateError("the key does not belong to the certificate")
    if hostname is not None:
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            dns = names.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            dns = []
        if hostname not in dns and not any(
            n.startswith("*.") and hostname.split(".", 1)[-1] == n[2:] for n in dns
        ):
            raise CertificateError(f"the certificate does not name {hostname}")
    folder = tls_dir(data_dir)
    write_private(folder / VISITOR_KEY, key_pem)
    write_private(folder / VISITOR_CERT, cert_pem)
    return leaf


def visitor_context(data_dir: Path) -> ssl.SSLContext | None:
    """Return the TLS context for visitors, or None without a certificate."""
    folder = data_dir / TLS_DIR
    if not (folder / VISITOR_CERT).exists():
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(folder / VISITOR_CERT, folder / VISITOR_KEY)
    return context


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def console_ca(data_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Return the box's console CA, making it on first use."""
    folder = tls_dir(data_dir)
    if (folder / CA_CERT).exists():
        cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Callbox console CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.IPAddress(ipaddress.ip_network("100.64.0.0/10"))],
                excluded_subtrees=None,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    write_private(folder / CA_KEY, _key_pem(key))
    (folder / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def console_context(data_dir: Path, address: str) -> ssl.SSLContext:
    """Return the TLS context of the console on the overlay address."""
    folder = tls_dir(data_dir)
    ca_cert, ca_key = console_ca(data_dir)
    current = folder / CONSOLE_CERT
    if not current.exists() or _names(current) != {address}:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=_CONSOLE_DAYS))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_private(folder / CONSOLE_KEY, _key_pem(key))
        current.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(current, folder / CONSOLE_KEY)
    return context


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in alt.get_values_for_type(x509.IPAddress)}
