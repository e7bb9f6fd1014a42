"""``render`` is a gate too: a production environment with gaps is not rendered unless the operator
says ``--allow-gaps``, and then every rendered file says which gaps it carries, at its top, in the
comment syntax of its file type (so a reviewer of the manifests sees them, and so does `kubectl diff`).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from frontdoor.errors import Finding
from frontdoor.render.context import RenderError
from frontdoor.render.kubernetes import Files
from frontdoor.report.check import CheckReport

#: line comment of each file type render writes: YAML manifests and nginx.conf
COMMENT = {".yaml": "#", ".yml": "#", ".conf": "#"}


def production_gaps(report: CheckReport) -> list[Finding]:
    """What stops the render: the failing findings of a production environment (none elsewhere)."""
    if not any(verdict.production for verdict in report.environments):
        return []
    return report.failing()


def with_gap_comments(files: Files, environment: str, gaps: list[Finding]) -> Files:
    """Every file with the gaps as comments at its top; a file type without a known comment syntax is
    refused, since its gaps could not be said."""
    marked = {}
    for name, text in files.items():
        comment = COMMENT.get(PurePosixPath(name).suffix)
        if comment is None:
            raise RenderError(f"{name}: no comment syntax known to carry the gaps; close them instead")
        header = [
            f"{comment} frontdoor render --allow-gaps: environment {environment} is not production-ready.",
            f"{comment} {len(gaps)} gap(s) open when this was rendered:",
        ]
        # a message never spans lines here: a newline in it would end the comment
        header += [f"{comment}   {' '.join(gap.render().splitlines())}" for gap in gaps]
        marked[name] = "\n".join(header) + "\n" + text
    return marked
