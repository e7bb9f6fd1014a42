"""frontdoor authz: the gateway's decisions, as an external auth service for an ingress."""
