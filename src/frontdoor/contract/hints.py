"""What to say about a value written in another tool's idiom: a path template, a regular expression or
a wildcard where frontdoor matches a prefix or an exact path, and a reference to a secret manager that
frontdoor does not read itself. Both would otherwise get a message about the wrong thing ("a route
path starts with '/'", "a literal token")."""

from __future__ import annotations

import re

#: the characters RFC 3986 allows in a path: a route path (values.py) and a suggested prefix use only these
PATH_CHARS = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


#: references to secret managers frontdoor does not read itself: such a value is a reference, not a
#: literal secret, and the message says how to hand the secret over (a file or a variable)
_FOREIGN_SECRET = re.compile(
    r"^(vault|aws-?sm|aws-?ssm|ssm|secretsmanager|arn|gcp-?sm|gsm|azure-?kv|akv|keyvault|k8s|"
    r"kubernetes|sops|op(?=://)|doppler|infisical|bitwarden|conjur)(\+[a-z]+)?:",
    re.IGNORECASE,
)


def foreign_secret_scheme(value: str) -> str | None:
    """The scheme of a reference to a secret manager frontdoor does not read (vault:, aws-sm:...)."""
    match = _FOREIGN_SECRET.match(value)
    return match.group(1).lower() if match else None


_REGEX_MARKS = re.compile(r"\$$|\.[*+]|\\|\[|\(\?|\|")


def path_pattern_hint(path: str) -> str | None:
    """What to say about a path written as a template, a regular expression or a glob: frontdoor
    matches a prefix (/orders matches /orders/42) or an exact path (=/orders/42), nothing else. The
    path itself is not repeated (it may be anything); the prefix before the pattern is, as the fix."""
    anchored = path.startswith("^")
    path = path.removeprefix("^")
    if "{" in path or "}" in path:
        what, cut = "a path template ({...})", min(i for i in (path.find("{"), path.find("}")) if i >= 0)
    elif anchored or _REGEX_MARKS.search(path):
        mark = _REGEX_MARKS.search(path)
        what, cut = "a regular expression", mark.start() if mark else len(path)
    elif path.endswith("*") or "/*/" in path:
        what, cut = "a wildcard (*)", path.find("*")
    else:
        return None
    prefix = path[:cut].rstrip("/") or "/"
    suggestion = prefix if PATH_CHARS.match(prefix) else "/orders"
    return (
        f"the path is {what}, but routes match by prefix or exact path only: write {suggestion} "
        f"(a prefix: it matches {suggestion.rstrip('/')}/42 too) or ={suggestion} (that path only); "
        "the service checks the rest of the path itself"
    )
