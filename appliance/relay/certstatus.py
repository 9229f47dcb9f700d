"""When the visitor certificate expires, for the health page and /metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from appliance.relay.tls import TLS_DIR, VISITOR_CERT

WARN_DAYS = 21  # days before expiry the health page warns


@dataclass(frozen=True, slots=True)
class CertificateState:
    """The visitor certificate's names and validity; `not_after` in UTC ms."""

    names: list[str]
    not_after: int
    error: str = ""  # why the file could not be read ("" when it was)


def visitor_certificate(data_dir: Path) -> CertificateState | None:
    """Read the visitor certificate (blocking: a thread); None when there is none yet."""
    path = data_dir / TLS_DIR / VISITOR_CERT
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        leaf = x509.load_pem_x509_certificates(pem)[0]
    except (ValueError, IndexError) as err:
        return CertificateState([], 0, f"unreadable: {type(err).__name__}")
    try:
        alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [str(n) for n in alt.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    return CertificateState(names, int(leaf.not_valid_after_utc.timestamp() * 1000))
