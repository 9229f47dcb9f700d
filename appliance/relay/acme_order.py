"""Get the visitor certificate by ACME HTTP-01, answered through the relay.

The CA checks `http://<chat host>/.well-known/acme-challenge/<token>`; the relay's
port 80 passes exactly that path to the box, whose overlay port 80 serves the files
this module writes into `callbox-data/acme-challenges/`. The certificate's key is
made here and never leaves the box. Uses certbot's `acme` library (synchronous:
this runs in the CLI, not in the server's event loop).
"""

from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path

from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.jwk import JWKRSA

from appliance.core.box import write_private
from appliance.relay.tls import import_visitor_certificate, tls_dir

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
CHALLENGE_DIR = "acme-challenges"
ACCOUNT_KEY = "acme-account.key"
_ORDER_TIMEOUT = 120  # s for the CA to validate and issue
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

_LOGGER = logging.getLogger(__name__)


class AcmeError(RuntimeError):
    """The certificate could not be obtained; the message says why."""


def challenge_path(data_dir: Path, token: str) -> Path | None:
    """Return the file answering a challenge token, or None for a malformed token."""
    if not _TOKEN.match(token):
        return None
    return data_dir / CHALLENGE_DIR / token


def _account_key(data_dir: Path) -> JWKRSA:
    path = tls_dir(data_dir) / ACCOUNT_KEY
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return JWKRSA(key=loaded)


def obtain(
    data_dir: Path,
    hostname: str,
    email: str | None,
    directory: str = LETS_ENCRYPT,
    ca_bundle: str | None = None,
) -> str:
    """Order, validate and install a certificate for `hostname`; return its expiry."""
    jwk = _account_key(data_dir)
    net = client.ClientNetwork(
        jwk,
        user_agent="callbox-appliance",
        verify_ssl=ca_bundle if ca_bundle else True,  # type: ignore[arg-type]
    )
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(directory, net), net=net)
        registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        try:
            acme.new_account(registration)
        except errors.ConflictError as conflict:
            # The account exists already (same key): use it.
            existing = messages.RegistrationResource(uri=conflict.location, body=registration)
            acme.net.account = acme.query_registration(existing)
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        order = acme.new_order(crypto_util.make_csr(key_pem, [hostname]))
        written = []
        try:
            for authz in order.authorizations:
                for challb in authz.body.challenges:
                    if isinstance(challb.chall, challenges.HTTP01):
                        response, validation = challb.response_and_validation(jwk)
                        path = challenge_path(data_dir, challb.chall.encode("token"))
                        if path is None:
                            raise AcmeError("the CA sent a malformed challenge token")
                        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                        path.write_text(validation)
                        path.chmod(0o644)
                        written.append(path)
                        acme.answer_challenge(challb, response)
                        break
                else:
                    raise AcmeError("the CA offered no HTTP-01 challenge")
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=_ORDER_TIMEOUT)  # noqa: DTZ005 - acme compares naive local times
            finished = acme.poll_and_finalize(order, deadline)
        finally:
            for path in written:
                path.unlink(missing_ok=True)
    except errors.Error as err:
        raise AcmeError(f"the ACME order failed: {err}") from err
    except OSError as err:
        raise AcmeError(f"cannot reach the ACME server: {err}") from err
    leaf = import_visitor_certificate(data_dir, finished.fullchain_pem.encode(), key_pem, hostname)
    _LOGGER.info("obtained a certificate for %s by ACME", hostname)
    return f"{leaf.not_valid_after_utc:%Y-%m-%d}"
