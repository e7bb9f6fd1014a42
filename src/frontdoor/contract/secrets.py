"""Finding secrets written as literals in a contract (rule 6): the contract holds references only."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from frontdoor.contract.hints import foreign_secret_scheme
from frontdoor.contract.source import NodePath
from frontdoor.contract.values import parse_secret_ref

# Keys whose value is a credential whatever it looks like: by their last word (redis_password,
# client_secret, api-token), so that names merely mentioning one (token_use, password_policy) are not.
_CREDENTIAL_WORDS = frozenset({"password", "passwd", "pass", "secret", "token", "apikey", "bearer"})
_CREDENTIAL_KEYS = frozenset({"api_key", "private_key", "access_key", "secret_key"})


def _is_credential_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _CREDENTIAL_KEYS or re.split(r"[_.\-]", lowered)[-1] in _CREDENTIAL_WORDS


_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-.~]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_token(text: str) -> bool:
    """A long random string: a bearer token, an API key, a key hash, a JWT."""
    if len(text) < 32 or not _TOKEN_CHARS.match(text) or _UUID.match(text):
        return False
    classes = sum(bool(re.search(p, text)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes >= 2 and sum(c.isdigit() for c in text) >= 3 and _entropy(text) >= 3.5


def _is_reference(text: str) -> bool:
    if not text.startswith(("secret:", "env:", "file:")):
        return False
    try:
        parse_secret_ref(text)
    except ValueError:
        return False
    return True


def secret_literal_kind(key: str | int | None, value: str) -> str | None:
    """What kind of secret ``value`` looks like, or None."""
    if _PEM.search(value):
        return "a private key" if "PRIVATE KEY" in value else "a PEM block"
    if _is_reference(value) or foreign_secret_scheme(value):
        return None  # a reference (one frontdoor cannot read is refused by the field's own check)
    if isinstance(key, str) and _is_credential_key(key) and value.strip():
        return f"a literal {key.lower()}"
    if looks_like_token(value):
        return "a long random token"
    return None


def find_secret_literals(data: Any, path: NodePath = ()) -> Iterator[tuple[NodePath, str]]:
    """(path, what) for every value under ``data`` that looks like a secret written in the clear."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from find_secret_literals(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from find_secret_literals(item, (*path, index))
    elif isinstance(data, str):
        what = secret_literal_kind(path[-1] if path else None, data)
        if what:
            yield path, what
    elif isinstance(data, int | float) and not isinstance(data, bool) and path:
        key = path[-1]
        if isinstance(key, str) and _is_credential_key(key):
            yield path, f"a literal {key.lower()}"
