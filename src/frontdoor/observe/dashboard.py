"""The admin listener's page: an HTML file, its script and its style, shipped in the package (no build
step, nothing fetched elsewhere). Script and style are files of their own so that the page's CSP
allows no inline script or style: an injected ``<script>`` or ``style=`` never runs."""

from __future__ import annotations

import functools
from importlib import resources

#: path on the admin listener -> (file in this package, content type)
ASSETS = {
    "/": ("dashboard.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
#: only this origin's script and style; data only from the admin API; never framed
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def asset(path: str) -> bytes:
    return resources.files("frontdoor.observe").joinpath(ASSETS[path][0]).read_bytes()
