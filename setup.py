"""The compiled build of the gateway's request path: which modules, and the switch.

The modules every request runs through are compiled with mypyc, from the same type-checked sources:
about 1.4x less CPU per proxied request on the bench machine (docs/gateway.md, Performance). Everything
else stays Python. ``pip install .`` compiles them whenever a C compiler and the Python headers are
present: the build backend (buildsupport/frontdoor_backend.py) decides, and sets FRONTDOOR_COMPILE=1
here for that build; FRONTDOOR_PURE=1 forces pure Python. ``make compiled`` builds it into
``.venv-compiled``; ``make bench`` measures both builds.
"""

from __future__ import annotations

import os

from setuptools import setup

# the modules of the request path (serve): parsing, forwarding, policy stages, the connection protocols
HOT_MODULES = [
    "src/frontdoor/http/fields.py",
    "src/frontdoor/http/h1.py",
    "src/frontdoor/http/headers.py",
    "src/frontdoor/http/messages.py",
    "src/frontdoor/http/paths.py",
    "src/frontdoor/http/plainhead.py",
    "src/frontdoor/http/response.py",
    "src/frontdoor/http/tracing.py",
    # the plan's routes, whose fields the request path reads on every request, and the bounded memos
    "src/frontdoor/plan.py",
    "src/frontdoor/memo.py",
    # the client connection's and the auth check connection's one timer, armed on every request
    "src/frontdoor/deadline.py",
    "src/frontdoor/networks.py",
    # a line per request: it was compiled inside proxy/server.py before it moved to observe/
    "src/frontdoor/observe/accesslog.py",
    "src/frontdoor/observe/metrics.py",
    "src/frontdoor/observe/traffic.py",
    "src/frontdoor/policy/admission.py",
    "src/frontdoor/policy/balancing.py",
    "src/frontdoor/policy/denykind.py",
    "src/frontdoor/policy/killswitch.py",
    # its Redis store subclasses StopStore (compiled), and an interpreted class cannot inherit from a
    # compiled one (found by make test-compiled: every serve with rate_limits.store: redis failed)
    "src/frontdoor/policy/stopredis.py",
    "src/frontdoor/policy/pipeline.py",
    "src/frontdoor/policy/routing.py",
    "src/frontdoor/policy/stops.py",
    "src/frontdoor/proxy/downstream.py",
    # the client connection's timer, Downstream's base class (split out of downstream.py): compiled with
    # it, since an interpreted class cannot inherit from a compiled one, nor the reverse cheaply
    "src/frontdoor/proxy/clock.py",
    "src/frontdoor/proxy/exchange.py",
    # routing and the stages of an exchange, split out of exchange.py (which imports it)
    "src/frontdoor/proxy/admit.py",
    "src/frontdoor/proxy/failures.py",
    "src/frontdoor/proxy/framing.py",
    "src/frontdoor/proxy/runtime.py",
    "src/frontdoor/proxy/server.py",
    # the sign-in paths, split out of exchange.py (which imports it)
    "src/frontdoor/proxy/signinflow.py",
    # the exchange's states and the connection's timeouts: compiled, the request path reads their members
    # as C globals rather than through an interpreted module's dict
    "src/frontdoor/proxy/states.py",
    "src/frontdoor/proxy/upstream.py",
    # HTTP/2 to clients: the connection, its streams, their heads both ways and the response encoder (the
    # h2 library that is their engine stays Python; proxy/h2guard.py's frame reader subclasses its class;
    # proxy/h2wait.py runs only for streams a client does not let finish)
    "src/frontdoor/proxy/h2connection.py",
    "src/frontdoor/proxy/h2stream.py",
    "src/frontdoor/http/h2head.py",
    "src/frontdoor/http/hpackout.py",
    # traffic protection's per-request stages (the Redis store and the builders stay Python)
    "src/frontdoor/protection/breaker.py",
    "src/frontdoor/protection/counters.py",
    "src/frontdoor/protection/gcra.py",
    "src/frontdoor/protection/headers.py",
    "src/frontdoor/protection/keys.py",
    "src/frontdoor/protection/ratelimit.py",
    "src/frontdoor/protection/retrybudget.py",
    "src/frontdoor/protection/shedding.py",
    # access: the decision per request and the verified-token cache (key fetching stays Python)
    "src/frontdoor/access/decide.py",
    "src/frontdoor/access/stage.py",
    "src/frontdoor/access/tokens.py",
    # authz: reading a check, deciding it, answering it
    "src/frontdoor/authz/answers.py",
    "src/frontdoor/authz/decide.py",
    "src/frontdoor/authz/dialects.py",
    "src/frontdoor/authz/service.py",
]

ext_modules = []
if os.environ.get("FRONTDOOR_COMPILE") == "1":
    from mypyc.build import mypycify

    ext_modules = mypycify(["--config-file", "pyproject.toml", *HOT_MODULES], opt_level="3")

setup(ext_modules=ext_modules)
