"""``frontdoor verify``: probe a running edge, black-box, and compare what it answers with the contract.

``check`` proves the contract is sound; ``verify`` proves the edge actually running (serve, nginx with
the authz, a rendered nginx, any gateway reached by URL) does what the contract says. The modules, each
with one job:

- ``probes.py``: which requests to send and what each must get back, planned from the compiled Plan and
  the project's own router (so the expectations follow the routing semantics of docs/contract.md);
- ``forge.py``: tokens no edge may accept (a foreign signature, expired, ``alg: none``, a wrong
  audience), made with a throwaway key;
- ``credentials.py``: the caller's own token or API key, and what its scopes, claims or client allow;
- ``client.py``: the only thing that sends requests: rate-capped, within a budget, GET/HEAD unless
  writes are allowed, every request marked by its User-Agent and X-Request-Id;
- ``stops.py``: the stops in force, read from the admin API (``--admin-token-file``);
- ``tlsprobes.py``: handshakes below ``min_version`` and plain HTTP on a TLS port;
- ``judge.py``: an answer against its expectation, as findings naming route, clause and owner;
- ``observed.py``: what every answer must carry (HSTS, the RateLimit fields), over the whole run;
- ``burst.py``: ``--burst``, a rate limit reached on purpose;
- ``run.py``: the run, and ``output.py``: the report in the formats ``check`` prints.
"""
