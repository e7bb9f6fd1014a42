"""Request-path stages, each built once from the Plan and cheap to call; no I/O, clock injected."""
