"""What one rate-limit bucket counts (``key`` of a rate limit), as a function of the Admission.

``subject`` and ``api_client`` fall back to the client address when the request carries no verified
identity (a public route, say), so an anonymous caller is still limited. A prefix keeps the kinds apart:
a token whose ``sub`` is someone's IP address does not share that address's bucket (no IP address
contains ``s:`` or ``a:``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from frontdoor.policy.admission import Admission

KeyOf = Callable[[Admission], Hashable]
TextKeyOf = Callable[[Admission], str]
#: who a refused request's client is, as the dashboard shows it: (kind, name), never a credential
WhoOf = Callable[[Admission], tuple[str, str]]


def subject_key(admission: Admission) -> str:
    subject = admission.subject
    return "s:" + subject if subject else admission.client_address()


def api_client_key(admission: Admission) -> str:
    name = admission.api_client
    return "a:" + name if name else admission.client_address()


def route_key(admission: Admission) -> Hashable:
    # the route's position in its Service: the same route on two entrypoints is one bucket (buckets are
    # per service already)
    return admission.route.index


def route_text_key(admission: Admission) -> str:
    """The route for a shared store: its position in the Service (the service is in every shared key)."""
    return f"r:{admission.route.index}"


LOCAL_KEYS: dict[str, KeyOf] = {
    "client": Admission.client_address,
    "subject": subject_key,
    "api_client": api_client_key,
    "route": route_key,
}

SHARED_KEYS: dict[str, TextKeyOf] = {
    "client": Admission.client_address,
    "subject": subject_key,
    "api_client": api_client_key,
    "route": route_text_key,
}


def address_of(admission: Admission) -> tuple[str, str]:
    return ("address", admission.client_address())


def subject_of(admission: Admission) -> tuple[str, str]:
    subject = admission.subject
    return ("subject", subject) if subject else address_of(admission)


def api_client_of(admission: Admission) -> tuple[str, str]:
    name = admission.api_client
    return ("api_client", name) if name else address_of(admission)


#: the client a limit counts by; a ``route`` limit counts everyone together, so its refused callers are
#: named by their address
WHO: dict[str, WhoOf] = {
    "client": address_of,
    "subject": subject_of,
    "api_client": api_client_of,
    "route": address_of,
}
