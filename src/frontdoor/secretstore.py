"""Resolving secret references at run time: ``secret:NAME`` through the Environment, then env: or file:.

Values are read when needed and never logged; errors name the reference, never the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from frontdoor.contract.models import Environment
from frontdoor.contract.values import SecretRef
from frontdoor.errors import FrontdoorError


class SecretUnavailable(FrontdoorError):
    pass


def resolve(ref: SecretRef, environment: Environment) -> SecretRef:
    """Follow ``secret:NAME`` to the Environment's env: or file: reference."""
    if ref.scheme != "secret":
        return ref
    target = environment.spec.secrets.get(ref.target)
    if target is None:
        raise SecretUnavailable(f"{ref} is not mapped in Environment {environment.name}'s secrets")
    return target


def read_secret(ref: SecretRef, environment: Environment) -> bytes:
    final = resolve(ref, environment)
    if final.scheme == "env":
        value = os.environ.get(final.target)
        if value is None:
            raise SecretUnavailable(f"{ref}: the environment variable {final.target} is not set")
        return value.encode("utf-8")
    try:
        return Path(final.target).read_bytes()
    except OSError as exc:
        raise SecretUnavailable(f"{ref}: cannot read {final.target} ({exc.strerror})") from None


def secret_file(ref: SecretRef, environment: Environment, scratch: Path) -> Path:
    """A path holding the secret: the file itself for file:, else a private copy under ``scratch``."""
    final = resolve(ref, environment)
    if final.scheme == "file":
        return Path(final.target)
    path = scratch / final.target
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(read_secret(ref, environment))
    return path
