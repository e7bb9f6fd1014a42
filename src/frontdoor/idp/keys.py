"""The local identity provider's signing keys: one RSA (RS256) and one P-256 (ES256) key, created with
``cryptography`` on first use and kept as PEM files (mode 0600) under a local state directory.

The state directory is ``$FRONTDOOR_STATE_DIR``, else ``$XDG_STATE_HOME/frontdoor``, else
``~/.local/state/frontdoor``: outside the project, so keys never end up in git, and the same for
``frontdoor demo`` and ``frontdoor token`` wherever they are started from.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from frontdoor.errors import FrontdoorError
from frontdoor.statedir import default_state_dir

ALGORITHMS = ("RS256", "ES256")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def state_dir() -> Path:
    return default_state_dir()  # the same directory as serve's and authz's (frontdoor/statedir.py)


@dataclass(frozen=True)
class SigningKey:
    algorithm: str
    kid: str  # the RFC 7638 thumbprint of the public key
    private: PrivateKey
    public_jwk: dict[str, Any]


def _new_key(algorithm: str) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _load_or_create(path: Path, algorithm: str) -> PrivateKey:
    if not path.exists():
        pem = _new_key(algorithm).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # written whole under a temporary name, then linked into place: a concurrent first use (the demo
        # and a `frontdoor token`) keeps whichever key was linked first, and never reads half a file
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise FrontdoorError(f"{path} does not hold an RSA or EC private key; remove it to make a new one")
    return key


def signing_keys(directory: Path | None = None) -> dict[str, SigningKey]:
    """The keys by algorithm, created on first use."""
    where = (directory or state_dir()) / "idp"
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = {}
        for algorithm in ALGORITHMS:
            private = _load_or_create(where / f"{algorithm.lower()}.pem", algorithm)
            public = private.public_key()
            text = (
                RSAAlgorithm.to_jwk(public)
                if isinstance(public, rsa.RSAPublicKey)
                else ECAlgorithm.to_jwk(public)
            )
            jwk: dict[str, Any] = json.loads(text)
            kid = _thumbprint(jwk)
            jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
            keys[algorithm] = SigningKey(algorithm, kid, private, jwk)
    except OSError as exc:
        raise FrontdoorError(f"the local identity provider cannot keep its keys in {where}: {exc}") from None
    return keys


def jwks(keys: dict[str, SigningKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys.values()]}
