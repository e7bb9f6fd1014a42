"""The one place verify sends HTTP from: safe to point at production.

- a global rate cap (requests per second, default 5) shared by every probe, TLS handshakes included;
- a total budget: the run stops sending, and says so, rather than exceed it;
- GET and HEAD only unless writes were allowed, and never a body;
- a ``User-Agent`` and an ``X-Request-Id`` prefix that find every probe in the edge's logs;
- redirects are not followed: a 3xx is an answer to judge, not a place to go.
"""

from __future__ import annotations

import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from frontdoor import __version__
from frontdoor.errors import FrontdoorError

USER_AGENT = f"frontdoor-verify/{__version__} (+https://frontdoor.invalid/docs/verify.md)"
REQUEST_ID_PREFIX = "frontdoor-verify-"
SAFE_METHODS = frozenset({"GET", "HEAD"})


class BudgetSpent(FrontdoorError):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    request_id: str
    body: bytes = b""  # the start of it: enough for an error's JSON


class Pacer:
    """At most ``rate`` starts a second and ``budget`` in all; ``sleep`` and ``clock`` are the real ones
    unless a test gives others."""

    def __init__(
        self,
        rate: float,
        budget: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.budget = budget
        self.spent = 0
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def take(self, paced: bool = True) -> None:
        """Count one request against the budget; wait for its turn unless ``paced`` is off (--burst)."""
        if self.spent >= self.budget:
            raise BudgetSpent(f"the budget of {self.budget} requests is spent")
        if not paced:
            self.spent += 1
            return
        wait = self._next - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._next = max(self._next, self._clock()) + self.interval
        self.spent += 1


class ProbeClient:
    def __init__(
        self,
        base_url: str,
        pacer: Pacer,
        tls: ssl.SSLContext,
        host: str | None,
        allow_writes: bool,
        timeout: float,
        certified: ssl.SSLContext | None = None,
    ) -> None:
        """``tls`` for every probe; ``certified`` (the same trust, and the --cert certificate) for the
        probes made with the certificate, on connections of their own: a TLS connection's certificate
        is its whole life's, and a probe without one must not ride on it."""
        self.pacer = pacer
        self.allow_writes = allow_writes
        self.host = host
        self.run_id = secrets.token_hex(4)
        self.count = 0
        self._client = self._open(base_url, tls, timeout)
        self._certified = self._open(base_url, certified, timeout) if certified is not None else None

    @staticmethod
    def _open(base_url: str, tls: ssl.SSLContext, timeout: float) -> httpx.Client:
        return httpx.Client(
            base_url=base_url,
            verify=tls,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between verify and the edge
            headers={"User-Agent": USER_AGENT},
        )

    def request_id(self) -> str:
        self.count += 1
        return f"{REQUEST_ID_PREFIX}{self.run_id}-{self.count}"

    def send(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        paced: bool = True,
        certificate: bool = False,
    ) -> Answer:
        """``target`` goes on the request line exactly as given (path tricks must not be normalized on
        the way); ``certificate``: on a connection made with the --cert certificate. Raises
        httpx.TransportError when the edge cannot be reached."""
        client = self._certified if certificate else self._client
        if client is None:
            raise FrontdoorError(f"{method} {target}: a probe with a certificate, but no --cert was given")
        if method not in SAFE_METHODS and not self.allow_writes:
            raise FrontdoorError(f"{method} {target}: only GET and HEAD are sent without --allow-writes")
        self.pacer.take(paced)
        request_id = self.request_id()
        fields = {"X-Request-Id": request_id, **headers}
        extensions: dict[str, object] = {}
        if self.host is not None:
            fields["Host"] = self.host
            extensions["sni_hostname"] = self.host
        request = client.build_request(method, "/", headers=fields, extensions=extensions)
        request.url = request.url.copy_with(raw_path=target.encode("ascii"))
        if method not in SAFE_METHODS:
            request.headers["Content-Length"] = "0"  # never a payload
        response = client.send(request)
        return Answer(response.status_code, response.headers, request_id, response.content[:65536])

    def close(self) -> None:
        self._client.close()
        if self._certified is not None:
            self._certified.close()
