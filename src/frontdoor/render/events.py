"""Strimzi KafkaTopic and KafkaUser objects from the services' event contracts: one topic per declared
topic, one user per service with events, allowed to write (and describe) what it produces and to read
(and describe) what it consumes, with a consumer group named after the service."""

from __future__ import annotations

from typing import Any

from frontdoor.render.context import Site
from frontdoor.render.labels import labels, obj

_API = "kafka.strimzi.io/v1beta2"


def _acl(kind: str, name: str, operations: list[str]) -> dict[str, Any]:
    return {"resource": {"type": kind, "name": name, "patternType": "literal"}, "operations": operations}


def event_objects(site: Site) -> list[dict[str, Any]]:
    services = {n: s for n, s in sorted(site.contract.services.items()) if s.spec.events is not None}
    if not services:
        return []
    cluster = {"strimzi.io/cluster": site.options.kafka_cluster}
    producers: dict[str, set[str]] = {}
    topics: set[str] = set()
    for service in services.values():
        events = service.spec.events
        assert events is not None
        topics.update(events.produces, events.consumes)
        for topic in events.produces:
            producers.setdefault(topic, set()).add(service.owner)
    production = site.plan.production
    out: list[dict[str, Any]] = []
    for topic in sorted(topics):
        name = site.names.name("KafkaTopic", topic, subdomain=True)
        # the producing team owns the topic (rule: one producing owner per topic)
        owner = sorted(producers.get(topic, {site.platform_team}))[0]
        spec: dict[str, Any] = {
            "partitions": 3,
            "replicas": 3 if production else 1,
            "config": {"min.insync.replicas": 2 if production else 1},
        }
        if name != topic:
            spec["topicName"] = topic
        out.append(obj(_API, "KafkaTopic", name, labels(site.environment, owner) | cluster, spec))
    for name, service in services.items():
        events = service.spec.events
        assert events is not None
        acls = [_acl("topic", t, ["Write", "Describe"]) for t in events.produces]
        acls += [_acl("topic", t, ["Read", "Describe"]) for t in events.consumes]
        if events.consumes:
            acls.append(_acl("group", name, ["Read"]))
        out.append(
            obj(
                _API,
                "KafkaUser",
                site.names.name("KafkaUser", name),
                labels(site.environment, service.owner, name) | cluster,
                {
                    "authentication": {"type": "tls"},
                    "authorization": {"type": "simple", "acls": acls},
                },
            )
        )
    return out
