"""Who the caller is, at the edge: bearer tokens (JWT) from the Edge's identity providers, API keys of
its API clients, and the access stage that checks them against each route's ``access``."""
