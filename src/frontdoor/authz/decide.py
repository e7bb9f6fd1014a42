"""One check: the original request, routed and run through the shared Pipeline exactly as ``serve`` does.

Only the input differs (the request an ingress describes, not the request itself, and the client
certificate the ingress verified, read only from a trusted ingress: an untrusted peer is refused first);
routing, path normalization and the policy stages are the gateway's own, so the two cannot decide
differently.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from frontdoor.access.signin import Answer
from frontdoor.authz.dialects import (
    BadCheck,
    Original,
    certificate_header,
    has_dialect_headers,
    read_original,
)
from frontdoor.http.fields import Field
from frontdoor.http.h1 import RequestHead
from frontdoor.http.paths import PathError, normalize_path
from frontdoor.http.probes import PROBES
from frontdoor.networks import Network, within
from frontdoor.plan import Plan, PlannedEntrypoint, PlannedRoute
from frontdoor.policy.admission import Admission, Denial
from frontdoor.policy.clientcert import CertificateUnreadable, ClientCertificate, from_header
from frontdoor.policy.denykind import DenyKind, kind_of
from frontdoor.policy.pipeline import Pipeline
from frontdoor.policy.routing import Router
from frontdoor.policy.xfcc import from_xfcc

log = logging.getLogger("frontdoor.authz")
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(slots=True)
class Outcome:
    """What was decided about one original request."""

    status: int  # what ``serve`` answers for this request: 200 to allow
    reason: str  # safe to show the client
    kind: str  # the deny's short name for X-Frontdoor-Deny; "" when allowed
    rule: str = ""  # the clause that denied, for the access log only
    headers: tuple[Field, ...] = ()  # the denial's own headers (WWW-Authenticate, Retry-After, Allow)
    original: Original | None = None
    route: PlannedRoute | None = None
    admission: Admission | None = None
    owner: str = ""  # who a denial without a route names (the platform team, as serve names it)
    answer: Answer | None = None  # a sign-in path's answer (authz/signin.py), sent as it is


def original_scheme(head: RequestHead) -> str:
    """The scheme the client used, as the ingress says it (X-Forwarded-Proto; its own check request
    is plain HTTP): the session cookie is Secure when it is https."""
    for name, value in head.headers:
        if name.lower() == b"x-forwarded-proto":
            return "https" if value.strip().lower() == b"https" else "http"
    return "http"


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``--trusted`` values as networks; raises ValueError naming the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"--trusted {value}: not an IP network such as 10.0.0.0/8") from None
    return tuple(networks)


def chosen_entrypoints(
    plan: Plan, entrypoint: str | None, path_prefix: str = ""
) -> tuple[PlannedEntrypoint, ...]:
    """The entrypoints whose routes are decided; raises ValueError for settings that cannot work."""
    if path_prefix and (not path_prefix.startswith("/") or path_prefix.endswith("/")):
        raise ValueError(f"--path-prefix {path_prefix}: must start with '/' and not end with one")
    if entrypoint is None:
        return plan.entrypoints
    chosen = tuple(e for e in plan.entrypoints if e.name == entrypoint)
    if not chosen:
        names = ", ".join(e.name for e in plan.entrypoints) or "none"
        raise ValueError(f"--entrypoint {entrypoint}: the Edge has no such entrypoint ({names})")
    return chosen


class Checker:
    """Built once per Plan: decides check requests with the plan's routes and the shared pipeline."""

    def __init__(
        self,
        plan: Plan,
        pipeline: Pipeline,
        trusted: tuple[Network, ...] = LOOPBACK,
        dialect: str = "auto",
        path_prefix: str = "",
        entrypoint: str | None = None,
    ) -> None:
        entrypoints = chosen_entrypoints(plan, entrypoint, path_prefix)
        self.plan = plan
        self.pipeline = pipeline
        self.trusted = trusted
        self.dialect = dialect
        self.path_prefix = path_prefix
        self.router = Router(entrypoints)
        # Beyond the ingress (trusted here), the entrypoint's trusted_proxies, as serve believes them.
        self._proxies: dict[str, tuple[Network, ...]] = {
            e.name: trusted + e.trusted_proxies for e in entrypoints
        }
        # An Envoy check without a prefix has the original path as its own: /healthz may be either.
        self._probe_may_be_check = dialect in ("auto", "envoy") and not path_prefix

    def trusts(self, peer: str) -> bool:
        return within(peer, self.trusted)

    def is_probe(self, head: RequestHead) -> bool:
        path = head.target.partition("?")[0]
        if path not in PROBES or head.method not in ("GET", "HEAD") or has_dialect_headers(head):
            return False
        # never a probe when the contract routes this path: then it is decided, never simply allowed
        return not self._probe_may_be_check or self.router.match(head.host, path, head.method).status == 404

    def check(self, head: RequestHead, peer: str, trusted: bool) -> Outcome | Awaitable[Outcome]:
        if not trusted:
            return Outcome(403, "only the ingress may ask for decisions", DenyKind.UNTRUSTED_PEER)
        try:
            original = read_original(head, self.dialect, self.path_prefix)
        except BadCheck as bad:  # a name of its own: mypyc types one variable per name
            return Outcome(403, str(bad), DenyKind.BAD_CHECK)
        path = original.target.partition("?")[0]
        try:
            normalized = normalize_path(path)
        except PathError as error:
            return Outcome(
                400, str(error), DenyKind.BAD_REQUEST, original=original, owner=self.plan.platform_team
            )
        match = self.router.match(original.host, normalized, original.method)
        route = match.route
        if route is None:
            if match.status == 405:
                allow = (b"allow", ", ".join(match.allowed).encode("ascii"))
                reason = f"{original.method} is not allowed here"
                owner = self.plan.platform_team
                return Outcome(405, reason, DenyKind.METHOD_NOT_ALLOWED, "", (allow,), original, owner=owner)
            reason = "no route for this host and path"
            return Outcome(404, reason, DenyKind.NO_ROUTE, original=original, owner=self.plan.platform_team)
        entrypoint: PlannedEntrypoint | None = match.entrypoint
        proxies = self._proxies[entrypoint.name] if entrypoint is not None else self.trusted
        certificate = None
        if entrypoint is not None and entrypoint.tls is not None and entrypoint.tls.client_auth is not None:
            # only where the ingress asks for client certificates does it set (or clear) the header; on
            # any other entrypoint the header could be the client's own, carrying someone's certificate
            try:
                certificate = _certificate(head, original)
            except BadCheck as bad_certificate:
                return Outcome(403, str(bad_certificate), DenyKind.BAD_CHECK, original=original)
        admission = Admission(
            head, route, original.method, normalized, peer, proxies, time.monotonic(), None, certificate
        )
        admission.target = original.target  # where a browser sent to sign in comes back to
        admission.secure = original_scheme(head) == "https"
        verdict = self.pipeline.check(admission)
        if verdict is None or isinstance(verdict, Denial):
            return _outcome(verdict, original, admission)
        return self._later(verdict, original, admission)

    @staticmethod
    async def _later(pending: Awaitable[Denial | None], original: Original, admission: Admission) -> Outcome:
        try:
            verdict = await pending
        except Exception:
            # as serve does: a stage that fails is a 503 for this request, logged, never a crash
            log.exception("a policy stage failed")
            admission.finish(503)
            reason = "the gateway could not decide this request"
            return Outcome(503, reason, DenyKind.ERROR, "", (), original, admission.route, admission)
        return _outcome(verdict, original, admission)


def _certificate(head: RequestHead, original: Original) -> ClientCertificate | None:
    """The client certificate the (trusted) ingress verified, if it passed one."""
    value = certificate_header(head, original.dialect)
    if value is None:
        return None
    try:
        return from_xfcc(value) if original.dialect == "envoy" else from_header(value)
    except CertificateUnreadable as unreadable:
        raise BadCheck(str(unreadable)) from None


def _outcome(verdict: Denial | None, original: Original, admission: Admission) -> Outcome:
    # authz never learns when the ingress's request ends: what a stage counts in flight ends here
    if verdict is None:
        admission.finish(200)
        return Outcome(200, "", "", original=original, route=admission.route, admission=admission)
    admission.finish(verdict.status)
    return Outcome(
        verdict.status,
        verdict.reason,
        kind_of(verdict),
        verdict.rule,
        verdict.headers,
        original,
        admission.route,
        admission,
    )
