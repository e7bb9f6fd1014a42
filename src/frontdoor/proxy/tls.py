"""TLS termination per entrypoint, with certificates from the Environment's secret references.

An entrypoint serves its default pair (``cert``, ``key``) and any ``certificates`` chosen by the server
name the client sends (SNI): one context per pair, and the SNI callback, which OpenSSL calls on every
handshake (with or without a server name), switches the connection to the pair's context.

Entrypoints that share a listen address share its context: the certificates of each are chosen by
the server name too (``listener_pairs``).

Certificate files are watched: at most once a second, during a handshake, their modification times are
compared, and when one changed every pair is loaded into new contexts that the following handshakes
use. A pair that fails to load is logged and the previous certificates keep serving.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from frontdoor.contract.models import ClientAuth, Tls
from frontdoor.contract.values import SecretRef
from frontdoor.errors import FrontdoorError
from frontdoor.plan import Plan, PlannedEntrypoint
from frontdoor.proxy.tlsgroups import set_groups
from frontdoor.secretstore import SecretUnavailable, read_secret, resolve, secret_file
from frontdoor.tlspolicy import policy

log = logging.getLogger("frontdoor.tls")
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, and the server names (SNI) it is chosen for; none: the default."""

    cert: SecretRef
    key: SecretRef
    hosts: tuple[str, ...] = ()


class Contexts:
    """One context per certificate, and which one a server name picks."""

    def __init__(self, default: ssl.SSLContext) -> None:
        self.default = default
        self.exact: dict[str, ssl.SSLContext] = {}
        self.wildcards: list[tuple[str, ssl.SSLContext]] = []  # (".example.com", ...), longest first

    def add(self, hosts: tuple[str, ...], context: ssl.SSLContext) -> None:
        for host in hosts:
            if host.startswith("*."):
                self.wildcards.append((host[1:], context))
            else:
                self.exact[host] = context
        self.wildcards.sort(key=lambda entry: -len(entry[0]))

    def choose(self, server_name: str | None) -> ssl.SSLContext:
        """The certificate for ``server_name``: its own, else the longest wildcard it is under (any
        depth, as the contract's hosts match), else the default one (also when no name was sent)."""
        if server_name:
            name = server_name.lower().rstrip(".")
            exact = self.exact.get(name)
            if exact is not None:
                return exact
            for suffix, context in self.wildcards:
                if name.endswith(suffix):
                    return context
        return self.default


def listener_pairs(entrypoints: Sequence[PlannedEntrypoint]) -> list[Pair]:
    """The certificates of the entrypoints that share a listener, the default first: that of the
    entrypoint taking any host (``*``), else the first's, as the router and nginx's default server
    choose. Then every entrypoint's ``certificates`` and each other entrypoint's own pair for its hosts
    (added last: a name an entrypoint takes shows that entrypoint's certificate)."""
    default = next((e for e in entrypoints if "*" in e.hosts), entrypoints[0])
    pairs = []
    for entrypoint in (default, *(e for e in entrypoints if e is not default)):
        tls = entrypoint.tls
        assert tls is not None  # all or none of a listener's entrypoints use TLS (entrypoint-overlap)
        if entrypoint is default:
            pairs.append(Pair(tls.cert, tls.key))
        pairs.extend(Pair(c.cert, c.key, c.hosts) for c in tls.certificates)
    for entrypoint in entrypoints:
        tls = entrypoint.tls
        if entrypoint is not default and tls is not None:
            pairs.append(Pair(tls.cert, tls.key, tuple(h for h in entrypoint.hosts if h != "*")))
    return pairs


class CertificateSource:
    def __init__(self, tls: Tls, plan: Plan, pairs: list[Pair]) -> None:
        self.tls = tls  # the handshake's settings (min_version, client_auth): one per listener
        self.plan = plan
        self.pairs = pairs
        references = [r for pair in self.pairs for r in (pair.cert, pair.key)]
        if tls.client_auth:
            references.append(tls.client_auth.ca)
        self.watched = [
            Path(ref.target)
            for ref in (resolve(r, plan.environment_doc) for r in references)
            if ref.scheme == "file"
        ]
        self.stamp = self._stamp()
        self.checked = time.monotonic()
        self.current = self._build_all()
        self.context = self.current.default
        self.context.sni_callback = self._on_handshake

    def _stamp(self) -> tuple[float, ...]:
        stamps = []
        for path in self.watched:
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
        return tuple(stamps)

    def _build_all(self) -> Contexts:
        contexts = Contexts(self._build(self.pairs[0]))
        for pair in self.pairs[1:]:
            contexts.add(pair.hosts, self._build(pair))
        return contexts

    def _build(self, pair: Pair) -> ssl.SSLContext:
        context = policy_context(self.tls.min_version)
        context.set_alpn_protocols(["h2", "http/1.1"])  # h2: proxy/h2connection.py
        if self.tls.client_auth is not None:
            trust_clients(context, self.tls.client_auth, self.plan)
        environment = self.plan.environment_doc
        try:
            # env: secrets are written to a private file only for as long as OpenSSL reads them
            with tempfile.TemporaryDirectory(prefix="frontdoor-tls-") as scratch:
                cert = secret_file(pair.cert, environment, Path(scratch))
                key = secret_file(pair.key, environment, Path(scratch))
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise FrontdoorError(
                f"cannot load the certificate {pair.cert} with key {pair.key}: {exc}"
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
                    fresh = self._build_all()
                except FrontdoorError as exc:
                    log.error("new certificates refused, the previous ones keep serving: %s", exc)
                else:
                    self.current = fresh
                    log.info("loaded new certificates for %s", self.tls.cert)
        chosen = self.current.choose(server_name)
        if chosen is not context:
            connection.context = chosen


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


def server_context(entrypoints: Sequence[PlannedEntrypoint], plan: Plan) -> ssl.SSLContext:
    """The TLS context of the listener the entrypoints share: one handshake (the contract makes their
    min_version and client_auth agree: listener-tls), each entrypoint's certificates chosen by SNI."""
    tls = entrypoints[0].tls
    assert tls is not None
    return CertificateSource(tls, plan, listener_pairs(entrypoints)).context
