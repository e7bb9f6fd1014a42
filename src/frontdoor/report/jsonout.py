"""The JSON form of ``frontdoor check`` (shape documented in docs/check-json.md; version 1)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from frontdoor.errors import Finding
from frontdoor.report.check import CheckReport
from frontdoor.verdict.environment import EnvironmentVerdict, RouteView, TeamOnCall
from frontdoor.verdict.waivers import WaivedGap

FORMAT = "frontdoor-check/v1"


def finding_json(finding: Finding) -> dict[str, Any]:
    where = finding.where
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "message": finding.message,
        "file": where.file if where else None,
        "line": where.line if where else None,
        "column": where.column if where else None,
        "fix": finding.fix,
        "environment": finding.environment,
        "related": [{"file": r.file, "line": r.line} for r in finding.related],
        "target": finding.target,
    }


def waived_json(gap: WaivedGap) -> dict[str, Any]:
    by, where = gap.by, gap.by.where
    return {
        "rule": gap.finding.rule,
        "target": gap.finding.target,
        "environment": gap.finding.environment,
        "reason": gap.reason,
        "expires": gap.expires.isoformat(),
        "team": by.owner,
        "declared_in": {"kind": by.kind, "name": by.document},
        "file": where.file if where else None,
        "line": where.line if where else None,
        "finding": finding_json(gap.finding),
    }


def team_json(team: TeamOnCall) -> dict[str, Any]:
    return {
        "team": team.name,
        "role": team.role,
        "oncall": team.primary,
        "escalation": team.escalation,
        "hours": team.hours,
    }


def route_json(route: RouteView) -> dict[str, Any]:
    return {
        "entrypoint": route.entrypoint,
        "hosts": list(route.hosts),
        "path": route.path,
        "methods": route.methods,
        "service": route.service,
        "access": route.access,
        "public": route.public,
        "identity_providers": list(route.providers),
        "api_clients": list(route.clients),
        "rate_limit": route.rate_limit,
        "upstreams": list(route.upstreams),
        "owners": {
            "stop": team_json(route.stop),
            "secure": team_json(route.stop),
            "explain": team_json(route.explain),
            "rollback": team_json(route.rollback),
        },
        "source": {"file": route.where.file, "line": route.where.line} if route.where else None,
    }


def environment_json(verdict: EnvironmentVerdict, strict: bool) -> dict[str, Any]:
    return {
        "name": verdict.name,
        "production": verdict.production,
        "ready": not verdict.failing(strict),
        "edge": verdict.edge,
        "entrypoints": [
            asdict(e) | {"hosts": list(e.hosts), "services": list(e.services)} for e in verdict.entrypoints
        ],
        "routes": [route_json(r) for r in verdict.routes],
        "access": {
            "identity_providers": verdict.providers,
            "api_clients": verdict.api_clients,
            "public_routes": verdict.public_routes,
        },
        "visibility": verdict.visibility | {"operators": [team_json(t) for t in verdict.operators]},
        "oncall": [team_json(t) for t in verdict.teams],
        "findings": [finding_json(f) for f in verdict.findings],
        "waived": [waived_json(w) for w in verdict.waived],
    }


def check_json(report: CheckReport) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "contract": report.root,
        "valid": report.valid,
        "ready": report.exit_code == 0,
        "strict": report.strict,
        "exit_code": report.exit_code,
        "errors": [finding_json(f) for f in report.errors],
        "environments": [environment_json(v, report.strict) for v in report.environments],
        "contract_findings": [finding_json(f) for f in report.contract_findings],
        "waived": [waived_json(w) for w in report.waived()],
    }
