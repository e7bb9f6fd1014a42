"""``--format github``: one GitHub Actions workflow command per finding, so each shows as an
annotation on its file and line in the pull request, then the verdict line.

Syntax: ``::error file=F,line=L,col=C,title=T::MESSAGE`` (also ``::warning`` and ``::notice``).
Property values escape ``%``, CR, LF, ``:`` and ``,``; the message escapes ``%``, CR and LF.
"""

from __future__ import annotations

from frontdoor.report.outcome import CONTRACT, Judged, Outcome

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(judged: Judged, group: str) -> str:
    finding = judged.finding
    properties = []
    if finding.where is not None:
        properties.append(f"file={_property(finding.where.file)}")
        properties.append(f"line={finding.where.line}")
        if finding.where.column:
            properties.append(f"col={finding.where.column}")
    properties.append(f"title={_property(finding.rule)}")
    # the environment leads the message: the same gap may be annotated once per environment
    message = (f"{group}: " if group != CONTRACT else "") + finding.message
    message += f" (fix: {finding.fix})" if finding.fix else ""
    return f"::{_COMMAND[judged.level]} {','.join(properties)}::{_data(message)}"


def github_annotations(result: Outcome) -> str:
    lines = [annotation(j, group.name) for group in result.groups for j in group.findings]
    lines.append(result.verdict)
    return "\n".join(lines) + "\n"
