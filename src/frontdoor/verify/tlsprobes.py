"""What a TLS entrypoint must refuse: a handshake below its ``min_version``, plain HTTP, and, where
``tls.client_auth`` is required, a client without a certificate; probed and judged here
(``check_entrypoint``).

Both are raw sockets, not HTTP clients: the point is what happens before any HTTP is spoken. A probe
the local OpenSSL cannot make (TLS 1.1 is compiled out or below the security level on many systems)
is skipped and said so, never counted as a pass or a failure.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Literal

from frontdoor.errors import Finding
from frontdoor.verify.client import BudgetSpent, Pacer
from frontdoor.verify.judge import Clauses

Result = Literal["refused", "accepted", "skipped"]

#: the version just below each min_version, and ssl's name for it
_BELOW = {"1.2": ssl.TLSVersion.TLSv1_1, "1.3": ssl.TLSVersion.TLSv1_2}


@dataclass(frozen=True)
class TlsAnswer:
    result: Result
    detail: str


def below_minimum(
    address: tuple[str, int], server_name: str | None, min_version: str, timeout: float
) -> TlsAnswer:
    """A handshake offering only the version below ``min_version``: the edge must refuse it."""
    version = _BELOW[min_version]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is not what this probe is about
    try:
        with warnings.catch_warnings():  # offering an old version on purpose is the point of the probe
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL offer the old version at all
    except (ValueError, ssl.SSLError) as exc:
        return TlsAnswer("skipped", f"the local OpenSSL cannot offer {version.name}: {exc}")
    try:
        raw = socket.create_connection(address, timeout=timeout)
    except OSError as exc:  # not a refusal of the version: nothing was offered
        return TlsAnswer("skipped", f"the {version.name} probe could not connect ({exc})")
    try:
        with raw, context.wrap_socket(raw, server_hostname=server_name) as tls:
            return TlsAnswer("accepted", f"the edge completed a {tls.version()} handshake")
    except ssl.SSLError as exc:
        if exc.reason == "NO_PROTOCOLS_AVAILABLE" or "no protocols available" in str(exc):
            # refused by our own OpenSSL before anything was sent
            return TlsAnswer("skipped", f"the local OpenSSL cannot offer {version.name}")
        return TlsAnswer("refused", f"{version.name} refused ({exc.reason or exc})")
    except (ConnectionError, TimeoutError) as exc:
        return TlsAnswer("refused", f"{version.name} refused ({type(exc).__name__})")


def plain_http(address: tuple[str, int], host: str, timeout: float) -> TlsAnswer:
    """A plain HTTP request on the TLS port: the edge must close, refuse (400, 426) or redirect to
    https; answering it as HTTP serves the route without TLS."""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: frontdoor-verify\r\nConnection: close\r\n\r\n"
    received = b""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(request.encode("ascii"))
            while len(received) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                if b"\r\n\r\n" in received:
                    break
    except (ConnectionError, TimeoutError) as exc:
        if not received:
            return TlsAnswer("refused", f"plain HTTP refused ({type(exc).__name__})")
    head = received.partition(b"\r\n\r\n")[0].decode("latin-1")
    lines = head.split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return TlsAnswer("refused", "plain HTTP got no HTTP answer")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return TlsAnswer("refused", "plain HTTP got no HTTP answer")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if 300 <= status < 400 and fields.get("location", "").lower().startswith("https://"):
        return TlsAnswer("refused", f"plain HTTP redirected to {fields['location']}")
    if status in (400, 426):
        return TlsAnswer("refused", f"plain HTTP answered {status}")
    return TlsAnswer("accepted", f"plain HTTP answered {status}")


def without_certificate(
    address: tuple[str, int], server_name: str, context: ssl.SSLContext, timeout: float
) -> TlsAnswer:
    """A handshake without a client certificate (``context``: verify's trust, no certificate), then a
    request: an edge that requires one ends the connection. In TLS 1.3 the client's side of the
    handshake completes before the server has checked for a certificate, so the refusal (an alert, a
    close) may only arrive on the first read."""
    request = (
        f"GET / HTTP/1.1\r\nHost: {server_name}\r\nUser-Agent: frontdoor-verify\r\nConnection: close\r\n\r\n"
    )
    try:
        with (
            socket.create_connection(address, timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            tls.sendall(request.encode("ascii"))
            first = tls.recv(65536)
    except ssl.SSLError as exc:
        return TlsAnswer("refused", f"a handshake without a client certificate refused ({exc.reason or exc})")
    except (ConnectionError, TimeoutError) as exc:
        return TlsAnswer(
            "refused", f"a handshake without a client certificate refused ({type(exc).__name__})"
        )
    if first.startswith(b"HTTP/"):
        status = first.split(b" ", 2)[1].decode("ascii", "replace") if b" " in first else "?"
        return TlsAnswer("accepted", f"a client without a certificate was answered {status}")
    return TlsAnswer("refused", "a client without a certificate got no answer")


@dataclass
class TlsChecks:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def check_entrypoint(
    clauses: Clauses,
    address: tuple[str, int],
    host: str,
    pacer: Pacer,
    timeout: float,
    uncertified: ssl.SSLContext | None = None,
) -> TlsChecks:
    """The probes of a TLS entrypoint, paced and counted like every request, judged; with
    ``uncertified`` (an entrypoint that requires a client certificate), a client without one too."""
    tls = clauses.entrypoint.tls
    assert tls is not None
    name = clauses.entrypoint.name
    checks = TlsChecks()
    try:
        pacer.take()
        below = below_minimum(address, host, tls.min_version, timeout)
        if below.result == "skipped":
            checks.skipped.append(below.detail)
        else:
            checks.kinds.append("tls-version")
        if below.result == "accepted":
            message = f"entrypoint {name} declares min_version {tls.min_version} but {below.detail}"
            where = clauses.of_entrypoint("tls", "min_version")
            checks.findings.append(clauses.finding("verify-tls-version", message, where, name))
        pacer.take()
        plain = plain_http(address, host, timeout)
        checks.kinds.append("plain-http")
        if plain.result == "accepted":
            message = (
                f"entrypoint {name} declares TLS but its port answers plain HTTP: {plain.detail} (expected "
                "a refusal or a redirect to https)"
            )
            checks.findings.append(
                clauses.finding("verify-plain-http", message, clauses.of_entrypoint("tls"), name)
            )
        if uncertified is not None:
            pacer.take()
            anonymous = without_certificate(address, host, uncertified, timeout)
            checks.kinds.append("client-auth")
            if anonymous.result == "accepted":
                message = (
                    f"entrypoint {name} requires a client certificate (client_auth mode required) but "
                    f"{anonymous.detail}"
                )
                where = clauses.of_entrypoint("tls", "client_auth", "mode")
                checks.findings.append(clauses.finding("verify-client-auth", message, where, name))
    except BudgetSpent as exc:
        checks.skipped.append(str(exc))
    return checks
