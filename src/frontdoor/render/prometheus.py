"""Target ``prometheus``: SLO alerts for an edge that is ``frontdoor serve`` (or any Prometheus that
scrapes frontdoor's own ``frontdoor_*`` series), as plain Prometheus files rather than Kubernetes
objects:

rules/<service>.yaml       the service's rule group (alerts.py), for ``rule_files``
tests/<service>.yaml       its unit tests (alert_tests.py): ``promtool test rules OUT/tests/*.yaml``
alertmanager/<team>.yaml   the Alertmanager route and receiver of each team that owns alerts
"""

from __future__ import annotations

from frontdoor.render import yamlout
from frontdoor.render.alert_tests import unit_tests
from frontdoor.render.alerts import alertmanager_routes, frontdoor_metrics, rule_group
from frontdoor.render.context import Site

Files = dict[str, str]


def render_prometheus(site: Site) -> Files:
    files: Files = {}
    alerted: list[str] = []
    for service in site.exposed_services():
        metrics = frontdoor_metrics(site, service)
        group = rule_group(site, service, metrics)
        slo = site.service(service).spec.slo
        if group is None or slo is None:
            continue
        alerted.append(site.plan.service_owners[service])
        files[f"rules/{service}.yaml"] = yamlout.dump({"groups": [group]})
        # promtool reads rule_files relative to the test file
        tests = unit_tests(f"../rules/{service}.yaml", service, group, metrics, slo)
        files[f"tests/{service}.yaml"] = yamlout.dump(tests)
    for team, snippet in alertmanager_routes(site, alerted).items():
        files[f"alertmanager/{team}.yaml"] = yamlout.dump(snippet)
    return files
