"""TLS termination per entrypoint, with certificates from the Environment's secret references.

Certificate files are watched: at most once a second, during a handshake, their modification times are
compared, and a changed pair is loaded into a new context that the following handshakes use (through
the SNI callback, which OpenSSL calls on every handshake, with or without a server name). A pair that
fails to load is logged and the previous certificate keeps serving.

With ``client_auth`` every context asks for a client certificate and verifies it against the CA it names;
the connection keeps what the verified certificate says (proxy/downstream.py) for the access stage.

Every context carries the entrypoint's TLS policy (tlspolicy.py: Mozilla "intermediate" or "modern"):
versions, TLS 1.2 suites and key-exchange groups. Python's ssl can name one curve only
(``set_ecdh_curve``); the group list is set with OpenSSL's own call (tlsgroups.py).
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import time
from pathlib import Path

from frontdoor.contract.models import ClientAuth, Tls
from frontdoor.errors import FrontdoorError
from frontdoor.plan import Plan
from frontdoor.proxy.tlsgroups import set_groups
from frontdoor.secretstore import SecretUnavailable, read_secret, resolve, secret_file
from frontdoor.tlspolicy import policy

log = logging.getLogger("frontdoor.tls")
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_CHECK_EVERY_S = 1.0


class CertificateSource:
    def __init__(self, tls: Tls, plan: Plan) -> None:
        self.tls = tls
        self.plan = plan
        references = [tls.cert, tls.key, *([tls.client_auth.ca] if tls.client_auth else [])]
        self.watched = [
            Path(ref.target)
            for ref in (resolve(r, plan.environment_doc) for r in references)
            if ref.scheme == "file"
        ]
        self.stamp = self._stamp()
        self.checked = time.monotonic()
        self.current = self._build()
        self.context = self.current
        self.context.sni_callback = self._on_handshake

    def _stamp(self) -> tuple[float, ...]:
        stamps = []
        for path in self.watched:
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
        return tuple(stamps)

    def _build(self) -> ssl.SSLContext:
        context = policy_context(self.tls.min_version)
        context.set_alpn_protocols(["h2", "http/1.1"])  # h2: proxy/h2connection.py
        if self.tls.client_auth is not None:
            trust_clients(context, self.tls.client_auth, self.plan)
        environment = self.plan.environment_doc
        try:
            # env: secrets are written to a private file only for as long as OpenSSL reads them
            with tempfile.TemporaryDirectory(prefix="frontdoor-tls-") as scratch:
                cert = secret_file(self.tls.cert, environment, Path(scratch))
                key = secret_file(self.tls.key, environment, Path(scratch))
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise FrontdoorError(
                f"cannot load the certificate {self.tls.cert} with key {self.tls.key}: {exc}"
            ) from None
        return context

    def _on_handshake(
        self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        now = time.monotonic()
        if now - self.checked >= _CHECK_EVERY_S:
            self.checked = now
            stamp = self._stamp()
            if stamp != self.stamp:
                self.stamp = stamp
                try:
                    fresh = self._build()
                except FrontdoorError as exc:
                    log.error("new certificate refused, the previous one keeps serving: %s", exc)
                else:
                    self.current = fresh
                    log.info("loaded a new certificate for %s", self.tls.cert)
        if self.current is not context:
            connection.context = self.current


def policy_context(min_version: str) -> ssl.SSLContext:
    """A server context with the policy of ``min_version`` and no certificate yet."""
    chosen = policy(min_version)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[chosen.min_version]
    if chosen.tls12_suites:
        context.set_ciphers(chosen.openssl_ciphers)  # TLS 1.2 only: the TLS 1.3 suites are OpenSSL's three
    # the client picks among the suites (all strong), as Mozilla's profiles and the rendered nginx say
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    set_groups(context, chosen.openssl_groups)
    return context


def trust_clients(context: ssl.SSLContext, client_auth: ClientAuth, plan: Plan) -> None:
    """Ask for client certificates and verify them against ``client_auth.ca`` (mutual TLS): a
    certificate that does not chain to it fails the handshake; none at all fails it too, unless the
    mode is ``optional`` (the access stage then finds no certificate)."""
    try:
        authorities = read_secret(client_auth.ca, plan.environment_doc).decode("ascii")
        context.load_verify_locations(cadata=authorities)
    except (SecretUnavailable, UnicodeDecodeError, ssl.SSLError) as exc:
        raise FrontdoorError(f"cannot load the client CA {client_auth.ca}: {exc}") from None
    context.verify_mode = ssl.CERT_REQUIRED if client_auth.mode == "required" else ssl.CERT_OPTIONAL


def server_context(tls: Tls, plan: Plan) -> ssl.SSLContext:
    return CertificateSource(tls, plan).context
