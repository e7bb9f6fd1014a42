"""Deciding a request: the types every stage shares (admission.py), the pipeline that runs them, routing,
balancing and the kill switch. Pure, the clock passed in as ``now``, except the kill switch's stores:
a stat of the stops file or a background Redis read, at most every POLL_S (policy/stops.py)."""
