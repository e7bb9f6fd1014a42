"""A test identity provider: RSA and EC keys made here, a JWKS and an OpenID configuration served by a
real HTTP server on loopback (in a thread) that counts what it is asked, tokens signed on demand, and
the attacks of RFC 8725 as tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "shop-api"

SigningKeyPair = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def public_jwk(kid: str, key: SigningKeyPair, alg: str | None = None) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def new_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Published:
    kid: str
    key: SigningKeyPair
    alg: str | None = None


@dataclass
class IdentityProvider:
    """Keys, the documents that publish them, and tokens. Serve it with ``serve()``."""

    issuer: str = "http://127.0.0.1:1/"
    keys: list[Published] = field(default_factory=list)
    fetches: Counter[str] = field(default_factory=Counter)  # path -> requests served
    status: int = 200  # what the key endpoints answer; 503 for an outage that still answers
    delay_s: float = 0.0  # how long each answer waits: a slow provider
    server: ThreadingHTTPServer | None = None
    port: int = 0
    gate: threading.Event | None = None  # when set here, get_json waits for it: a fetch held in flight

    @classmethod
    def with_keys(cls) -> IdentityProvider:
        return cls(keys=[Published("rsa-1", new_rsa()), Published("ec-1", new_ec())])

    # --- documents ---------------------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str:
        return self.issuer.rstrip("/") + "/keys"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(p.kid, p.key, p.alg) for p in self.keys]}

    def configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": ["RS256"],
            # where a browser signs in (the sign-in tests answer the token endpoint themselves)
            "authorization_endpoint": self.issuer.rstrip("/") + "/authorize",
            "token_endpoint": self.issuer.rstrip("/") + "/token",
            "end_session_endpoint": self.issuer.rstrip("/") + "/logout",
        }

    def document(self, path: str) -> object | None:
        if path == "/keys":
            return self.jwks()
        if path == "/.well-known/openid-configuration":
            return self.configuration()
        return None

    def get_json(self, url: str, timeout: float) -> object:
        """The same documents without HTTP, for unit tests: counts like the server does."""
        path = "/" + url.split("/", 3)[3]
        self.fetches[path] += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.status != 200:
            from frontdoor.access.keys import KeyFetchError

            raise KeyFetchError(f"{url} answered {self.status}")
        document = self.document(path)
        if document is None:
            from frontdoor.access.keys import KeyFetchError

            raise KeyFetchError(f"{url} answered 404")
        return document

    # --- keys --------------------------------------------------------------------------------------

    def key(self, kid: str) -> SigningKeyPair:
        return next(p.key for p in self.keys if p.kid == kid)

    def rotate(self, kid: str, drop: str | None = None) -> None:
        """Publish a new RSA key ``kid``; with ``drop``, stop publishing that one."""
        self.keys = [p for p in self.keys if p.kid != drop]
        self.keys.append(Published(kid, new_rsa()))

    # --- tokens ------------------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "exp": now + 300,
            "scope": "orders:read",
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def token(
        self,
        kid: str = "rsa-1",
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
        key: SigningKeyPair | None = None,
        **claims: Any,
    ) -> str:
        """A token signed by key ``kid`` (or ``key``, still naming ``kid``); claims set to None are left out."""
        signer = key if key is not None else self.key(kid)
        return jwt.encode(
            self.claims(**claims), signer, algorithm=alg, headers={"kid": kid, **(headers or {})}
        )

    # --- serving -----------------------------------------------------------------------------------

    def serve(self, port: int = 0) -> IdentityProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                provider.fetches[path] += 1
                if provider.delay_s:
                    time.sleep(provider.delay_s)
                document = provider.document(path)
                status = provider.status if document is not None else 404
                body = json.dumps(document if status == 200 else {"error": "unavailable"}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        """Stop answering: connections are refused until ``serve()`` again (same port)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def jwks_fetches(self) -> int:
        return self.fetches["/keys"]

    def provider_yaml(
        self,
        name: str = "idp",
        algorithms: str = "[RS256, ES256]",
        skew: int = 30,
        discovery: bool = False,
        scopes_claim: str = "scope",
        login: str = "",
    ) -> str:
        jwks = "" if discovery else f', jwks_uri: "{self.jwks_uri}"'
        signs_in = f", login: {login}" if login else ""  # a YAML flow mapping (sign-in tests)
        return (
            f'{{name: {name}, issuer: "{self.issuer}", audiences: [{AUDIENCE}, other-api], '
            f"algorithms: {algorithms}, clock_skew_s: {skew}, scopes_claim: {scopes_claim}{jwks}{signs_in}}}"
        )


# --- the attacks (RFC 8725) ----------------------------------------------------------------------------


def unsigned(claims: dict[str, Any], alg: str = "none", kid: str = "rsa-1") -> str:
    return f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{b64json(claims)}."


def signed_as(header: dict[str, Any], claims: dict[str, Any], key: SigningKeyPair, really: str) -> str:
    """A token whose header says one thing while it is signed with ``really`` (an algorithm name)."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    algorithm = jwt.algorithms.get_default_algorithms()[really]
    return f"{signing_input}.{b64(algorithm.sign(signing_input.encode(), key))}"


def hmac_with_public_key(idp: IdentityProvider, kid: str = "rsa-1") -> str:
    """HS256 "signed" with the provider's RSA public key (PEM) as the shared secret: algorithm confusion."""
    pem = (
        idp.key(kid)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64json(idp.claims())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


ATTACKS = (
    "alg none",
    "alg None (capitalized)",
    "hmac with the public key",
    "stripped signature",
    "two parts only",
    "signature of another token",
    "attacker key with a known kid",
    "jku to attacker keys",
    "embedded jwk",
    "x5u to attacker",
    "unknown crit",
    "expired",
    "not yet valid (nbf)",
    "issued in the future (iat)",
    "wrong issuer",
    "issuer without its trailing slash",
    "missing issuer",
    "wrong audience",
    "missing audience",
    "missing exp",
    "exp as a string",
    "algorithm outside the allow-list (RS384)",
    "algorithm outside the allow-list (PS256)",
    "EC key named with an RSA algorithm",
    "garbage",
    "three garbage parts",
    "json garbage",
    "unknown kid",
)
_ATTACKER: list[rsa.RSAPrivateKey] = []


def attack_tokens(idp: IdentityProvider) -> dict[str, str]:
    """Every token here must be refused with 401 (names: ATTACKS)."""
    if not _ATTACKER:
        _ATTACKER.append(new_rsa())
    attacker = _ATTACKER[0]
    attacker_jwk = public_jwk("rsa-1", attacker)
    valid = idp.token()
    header, payload, _signature = valid.split(".")
    now = int(time.time())
    tokens = {
        "alg none": unsigned(idp.claims()),
        "alg None (capitalized)": unsigned(idp.claims(), alg="None"),
        "hmac with the public key": hmac_with_public_key(idp),
        "stripped signature": f"{header}.{payload}.",
        "two parts only": f"{header}.{payload}",
        "signature of another token": f"{header}.{idp.token(sub='mallory').split('.')[1]}.{valid.split('.')[2]}",
        "attacker key with a known kid": idp.token(key=attacker),
        "jku to attacker keys": idp.token(
            kid="attacker-1", key=attacker, headers={"jku": "http://127.0.0.1:9/keys"}
        ),
        "embedded jwk": idp.token(kid="rsa-1", key=attacker, headers={"jwk": attacker_jwk}),
        "x5u to attacker": idp.token(kid="rsa-1", key=attacker, headers={"x5u": "http://127.0.0.1:9/cert"}),
        "unknown crit": idp.token(headers={"crit": ["urn:example:ext"], "urn:example:ext": 1}),
        "expired": idp.token(exp=now - 120, iat=now - 600),
        "not yet valid (nbf)": idp.token(nbf=now + 600),
        "issued in the future (iat)": idp.token(iat=now + 600),
        "wrong issuer": idp.token(iss="https://evil.example.com/"),
        "issuer without its trailing slash": idp.token(iss=idp.issuer.rstrip("/")),
        "missing issuer": idp.token(iss=None),
        "wrong audience": idp.token(aud="someone-else"),
        "missing audience": idp.token(aud=None),
        "missing exp": idp.token(exp=None),
        "exp as a string": idp.token(exp=str(now + 300)),
        "algorithm outside the allow-list (RS384)": idp.token(alg="RS384"),
        "algorithm outside the allow-list (PS256)": idp.token(alg="PS256"),
        "EC key named with an RSA algorithm": signed_as(
            {"alg": "RS256", "kid": "ec-1"}, idp.claims(), idp.key("ec-1"), "ES256"
        ),
        "garbage": "not-a-jwt",
        "three garbage parts": "aaaa.bbbb.cccc",
        "json garbage": f"{b64(b'{')}.{b64(b'}')}.{b64(b'x')}",
        "unknown kid": idp.token(kid="nobody", key=attacker),
    }
    assert tuple(tokens) == ATTACKS
    return tokens


# --- a contract whose routes need every kind of access ---------------------------------------------------

ACCESS_ROUTES = """
- {path: /public, access: public}
- {path: /me, access: authenticated}
- {path: /orders, methods: [GET], access: {scopes: ["orders:read"]}}
- {path: /orders, methods: [POST], access: {scopes: ["orders:read", "orders:write"]}}
- {path: /admin, access: {claims: {roles: admin}}}
- {path: /tier, access: {claims: {tier: 2, beta: true}}}
- {path: /batch, access: {clients: [billing]}}
- {path: /partners, access: {clients: [billing, partner]}}
- {path: /mixed, access: {scopes: ["orders:read"], clients: [billing]}}
"""
API_KEYS = {"billing": "billing-key-0123456789", "partner": "partner-key-9876543210"}


def access_contract(idp: IdentityProvider, secrets_dir: Any, **provider: Any) -> dict[str, Any]:
    """ContractSpec fields for ACCESS_ROUTES behind ``idp``, the API keys' hashes in files under
    ``secrets_dir`` (one with a trailing newline and in capitals: both are tolerated)."""
    from frontdoor.demo.documents import join, service

    secrets = {}
    for name, key in API_KEYS.items():
        digest = hashlib.sha256(key.encode()).hexdigest()
        path = secrets_dir / f"{name}.sha256"
        path.write_text(digest.upper() + "\n" if name == "partner" else digest)
        secrets[f"{name}-key"] = f"file:{path}"
    clients = ", ".join(f"{{name: {name}, key_sha256: secret:{name}-key}}" for name in API_KEYS)
    return {
        "services": join(
            service("shop", "shop", ACCESS_ROUTES),
            service("other", "shop", "- {path: /other, access: public}"),
        ),
        "identity": f"{{providers: [{idp.provider_yaml(**provider)}], api_clients: [{clients}]}}",
        "secrets": secrets,
    }
