"""serve: the gateway process, its connections to clients and upstreams, TLS, health checks and workers."""
