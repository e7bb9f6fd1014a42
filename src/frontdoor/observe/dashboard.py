"""The admin listener's page: one self-contained HTML file (no build step, nothing fetched elsewhere)."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def dashboard_html() -> bytes:
    return resources.files("frontdoor.observe").joinpath("dashboard.html").read_bytes()
