"""The contract judged for production, one environment at a time: the gaps between what an environment's
compiled Plan does and what production needs (environment.py), the rate-limit checks (ratelimits.py),
and the waivers that accept a gap for a while (waivers.py).

Above the Plan and the contract: it reads both, and neither reads it.
"""
