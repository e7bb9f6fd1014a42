"""A local OIDC identity provider for development: keys, tokens, discovery and JWKS."""
