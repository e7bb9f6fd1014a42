"""``--format sarif``: SARIF 2.1.0, for code-scanning UIs (GitHub's, GitLab's, IDEs).

One run of the tool ``frontdoor``; its rules are the rule ids that have findings, each with a short
description, a help text and a link to the docs; one result per finding, at its file and line. The
environment, the fixing team and frontdoor's own severity are result properties. tests/ validates the
output against the official schema (tests/sarif-schema-2.1.0.json).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from frontdoor import __version__
from frontdoor.errors import Finding, Location
from frontdoor.report.outcome import CONTRACT, Outcome
from frontdoor.report.rules import docs_url, rule_help, rule_uri

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _uri(file: str) -> str:
    """A URI reference: relative paths stay relative (code scanning resolves them against the checkout),
    absolute ones become file: URIs."""
    path = PurePosixPath(file)
    if path.is_absolute():
        return "file://" + quote(str(path))
    return quote(str(path))


def _location(where: Location) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": max(where.line, 1)}
    if where.column:
        region["startColumn"] = where.column
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(where.file)}, "region": region}}


def _message(finding: Finding, group: str) -> str:
    """As GitHub annotations say it: the environment first, since one place can fail in several (a gap
    in prod and a warning in test of the same Edge field are two results, not a duplicate)."""
    text = (f"{group}: " if group != CONTRACT else "") + finding.message
    return text + (f" (fix: {finding.fix})" if finding.fix else "")


def _rule(rule: str) -> dict[str, Any]:
    text = rule_help(rule)
    uri = rule_uri(rule)
    return {
        "id": rule,
        "shortDescription": {"text": text},
        "help": {"text": f"{text} See {uri}", "markdown": f"{text} See [the rule table]({uri})."},
        "helpUri": uri,
    }


def check_sarif(result: Outcome) -> dict[str, Any]:
    rule_ids = sorted({j.finding.rule for j in result.findings})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    results = []
    for group in result.groups:
        for judged in group.findings:
            finding = judged.finding
            entry: dict[str, Any] = {
                "ruleId": finding.rule,
                "ruleIndex": index[finding.rule],
                "level": judged.level,
                "message": {"text": _message(finding, group.name)},
                "properties": {
                    "severity": finding.severity,
                    "environment": None if group.name == CONTRACT else group.name,
                    "fix": finding.fix,
                },
            }
            if finding.where is not None:
                entry["locations"] = [_location(finding.where)]
                related = [_location(r) | {"id": i} for i, r in enumerate(finding.related, 1)]
                if related:
                    entry["relatedLocations"] = related
            results.append(entry)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "frontdoor",
                        "version": __version__,
                        "informationUri": f"{docs_url()}/contract.md",
                        "rules": [_rule(rule) for rule in rule_ids],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "exitCode": result.exit_code,
                        "toolExecutionNotifications": [{"message": {"text": result.verdict}}],
                    }
                ],
                "results": results,
            }
        ],
    }
