"""JSON Schema fragments for the custom resources `frontdoor render` writes: the fields and values their
controllers' CRDs require (Gateway API v1 with v1.4's BackendTLSPolicy, Envoy Gateway v1alpha1, Traefik
v3, prometheus-operator v1, Strimzi v1beta2, cert-manager v1), written from those CRDs, not downloaded. Each checks what would make
the API server or the controller refuse or ignore the object; anything more is the controller's job."""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
DURATION_GO = {"type": "string", "pattern": r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"}  # Gateway API / Envoy
PROM_DURATION = {"type": "string", "pattern": r"^((([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$"}
#: a Kubernetes resource.Quantity as Envoy Gateway's size fields take it (XIntOrString, this pattern)
QUANTITY = {"type": ["string", "integer"], "pattern": r"^[1-9]+[0-9]*([EPTGMK]i|[EPTGMk])?$"}
#: a header name in an extAuth list (a string in the CRD): lower case, because Envoy Gateway makes each an
#: exact, case-sensitive StringMatcher and Envoy's header names are lower case, so "Cookie" matches nothing
HEADER_NAME = {"type": "string", "pattern": r"^[a-z0-9!#$%&'*+.^_`|~-]+$"}
METHOD = {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]}


def obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties} | extra


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1} | extra


TARGET_REF = obj(["group", "kind", "name"], {"name": NAME, "sectionName": NAME})
BACKEND_REF = obj(
    ["name"], {"name": NAME, "port": PORT, "weight": {"type": "integer", "minimum": 0, "maximum": 1000000}}
)

GATEWAY = obj(
    ["gatewayClassName", "listeners"],
    {
        "gatewayClassName": NAME,
        "listeners": array(
            obj(
                ["name", "port", "protocol"],
                {
                    "name": NAME,
                    "port": PORT,
                    "protocol": {"enum": ["HTTP", "HTTPS"]},
                    "hostname": {
                        "type": "string",
                        "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                    },
                    "tls": obj(
                        ["mode", "certificateRefs"],
                        {
                            "mode": {"enum": ["Terminate"]},
                            "certificateRefs": array(obj(["name"], {"name": NAME})),
                        },
                    ),
                },
            ),
            maxItems=64,
        ),
        # Envoy Gateway's EnvoyProxy for this Gateway (the upstream client certificate)
        "infrastructure": obj(
            ["parametersRef"],
            {
                "parametersRef": obj(
                    ["group", "kind", "name"],
                    {
                        "group": {"enum": ["gateway.envoyproxy.io"]},
                        "kind": {"enum": ["EnvoyProxy"]},
                        "name": NAME,
                    },
                )
            },
        ),
    },
)

HTTP_ROUTE = obj(
    ["parentRefs", "rules"],
    {
        "parentRefs": array(obj(["name"], {"name": NAME}), maxItems=32),
        "rules": array(
            obj(
                ["matches", "backendRefs"],
                {
                    "name": NAME,
                    "matches": array(
                        obj(
                            ["path"],
                            {
                                "path": obj(
                                    ["type", "value"],
                                    {
                                        "type": {"enum": ["Exact", "PathPrefix"]},
                                        "value": {"type": "string", "pattern": "^/", "maxLength": 1024},
                                    },
                                ),
                                "method": METHOD,
                            },
                        ),
                        maxItems=64,
                    ),
                    "backendRefs": array(BACKEND_REF, maxItems=16),
                    "filters": array(
                        obj(
                            ["type"],
                            {
                                "type": {
                                    "enum": ["URLRewrite", "ResponseHeaderModifier", "RequestHeaderModifier"]
                                }
                            },
                        ),
                        maxItems=16,
                    ),
                },
            ),
            maxItems=16,
        ),
    },
)

JWT_CLAIM = obj(
    ["name", "values"],
    {"valueType": {"enum": ["String", "StringArray"]}, "values": array({"type": "string"}, maxItems=16)},
)
SECURITY_POLICY = obj(
    ["targetRefs"],
    {
        "targetRefs": array(TARGET_REF),
        "jwt": obj(
            ["providers"],
            {
                "providers": array(
                    obj(
                        ["name", "remoteJWKS"],
                        {
                            "remoteJWKS": obj(["uri"], {"uri": {"type": "string", "pattern": "^https?://"}}),
                            "audiences": {"type": "array", "maxItems": 8},
                            "claimToHeaders": array(obj(["header", "claim"], {})),
                        },
                    ),
                    maxItems=4,
                )
            },
        ),
        "authorization": obj(
            ["defaultAction", "rules"],
            {
                "defaultAction": {"enum": ["Allow", "Deny"]},
                "rules": array(
                    obj(
                        ["action", "principal"],
                        {
                            "action": {"enum": ["Allow", "Deny"]},
                            "principal": obj(
                                ["jwt"],
                                {
                                    "jwt": obj(
                                        ["provider"],
                                        {
                                            "claims": array(JWT_CLAIM, maxItems=16),
                                            "scopes": array({"type": "string"}, maxItems=16),
                                        },
                                        anyOf=[{"required": ["claims"]}, {"required": ["scopes"]}],
                                    )
                                },
                            ),
                        },
                    )
                ),
            },
        ),
        "extAuth": obj(
            ["http"],
            {
                "http": obj(
                    ["backendRefs"],
                    # the answer's headers Envoy sets on the upstream request
                    {"backendRefs": array(BACKEND_REF), "headersToBackend": array(HEADER_NAME)},
                ),
                "headersToExtAuth": array(HEADER_NAME),
            },
        ),
    },
    # a policy that names neither would attach and do nothing
    anyOf=[{"required": ["jwt"]}, {"required": ["extAuth"]}],
)
RATE_RULES = obj(
    ["rules"],
    {
        "rules": array(
            obj(
                ["limit"],
                {
                    "limit": obj(
                        ["requests", "unit"],
                        {
                            "requests": {"type": "integer", "minimum": 1},
                            "unit": {"enum": ["Second", "Minute", "Hour", "Day"]},
                        },
                    )
                },
            )
        )
    },
)
BACKEND_TRAFFIC_POLICY = obj(
    ["targetRefs"],
    {
        "targetRefs": array(TARGET_REF),
        "rateLimit": obj(
            ["type"], {"type": {"enum": ["Local", "Global"]}, "local": RATE_RULES, "global": RATE_RULES}
        ),
        "timeout": obj(
            [],
            {
                "tcp": obj([], {"connectTimeout": DURATION_GO}),
                "http": obj([], {"requestTimeout": DURATION_GO}),
            },
        ),
        "retry": obj(["numRetries"], {"numRetries": {"type": "integer", "minimum": 0}}),
        "requestBuffer": obj(["limit"], {"limit": QUANTITY}),
    },
)
CLIENT_TRAFFIC_POLICY = obj(
    ["targetRefs"],
    {
        "targetRefs": array(TARGET_REF),
        "tls": obj(
            [],
            {
                "minVersion": {"enum": ["Auto", "1.0", "1.1", "1.2", "1.3"]},
                "clientValidation": obj(
                    ["caCertificateRefs"],
                    {
                        "optional": {"type": "boolean"},
                        "caCertificateRefs": array(
                            obj(["name"], {"name": NAME, "kind": {"enum": ["Secret", "ConfigMap"]}}),
                            maxItems=8,
                        ),
                    },
                ),
            },
        ),
        "headers": obj(
            [],
            {
                "xForwardedClientCert": obj(
                    ["mode"],
                    {
                        "mode": {
                            "enum": [
                                "Sanitize",
                                "ForwardOnly",
                                "AppendForward",
                                "SanitizeSet",
                                "AlwaysForwardOnly",
                            ]
                        },
                        "certDetailsToAdd": array(
                            {"enum": ["Subject", "Cert", "Chain", "DNS", "URI"]}, maxItems=5
                        ),
                    },
                    # the CRD's rule: details only where Envoy sets the header itself
                    **{
                        "if": {"required": ["certDetailsToAdd"]},
                        "then": {"properties": {"mode": {"enum": ["AppendForward", "SanitizeSet"]}}},
                    },
                )
            },
        ),
        "timeout": obj(
            [], {"http": obj([], {"requestReceivedTimeout": DURATION_GO, "idleTimeout": DURATION_GO})}
        ),
        "path": obj(
            [],
            {
                "escapedSlashesAction": {
                    "enum": ["KeepUnchanged", "RejectRequest", "UnescapeForward", "UnescapeRedirect"]
                },
                "disableMergeSlashes": {"type": "boolean"},
            },
        ),
    },
)
#: Gateway API v1.4 BackendTLSPolicy (standard channel), as Envoy Gateway reads it
BACKEND_TLS_POLICY = obj(
    ["targetRefs", "validation"],
    {
        "targetRefs": array(
            obj(
                ["group", "kind", "name"],
                {
                    "group": {"enum": ["", "gateway.envoyproxy.io"]},
                    "kind": {"enum": ["Service", "Backend"]},
                    "name": NAME,
                },
            ),
            maxItems=16,
        ),
        "validation": obj(
            ["hostname"],
            {
                # a DNS name: the API refuses an IP address here
                "hostname": {
                    "type": "string",
                    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                    "not": {"pattern": r"^[0-9.]+$"},
                },
                "caCertificateRefs": array(
                    obj(["group", "kind", "name"], {"kind": {"enum": ["Secret", "ConfigMap"]}, "name": NAME}),
                    maxItems=8,
                ),
                "wellKnownCACertificates": {"enum": ["System"]},
            },
            # exactly one source of trust
            oneOf=[{"required": ["caCertificateRefs"]}, {"required": ["wellKnownCACertificates"]}],
        ),
    },
)
ENVOY_PROXY = obj(
    ["backendTLS"],
    {
        "backendTLS": obj(
            ["clientCertificateRef"],
            {
                # Envoy Gateway refuses a reference whose namespace is not the EnvoyProxy's, unset included
                "clientCertificateRef": obj(
                    ["kind", "name", "namespace"],
                    {"kind": {"enum": ["Secret"]}, "name": NAME, "namespace": NAME},
                )
            },
        )
    },
)
EG_BACKEND = obj(
    ["endpoints"], {"endpoints": array(obj([], {"fqdn": obj(["hostname", "port"], {"port": PORT})}))}
)

INGRESS_ROUTE = obj(
    ["entryPoints", "routes"],
    {
        "entryPoints": array({"type": "string"}),
        "routes": array(
            obj(
                ["match", "kind", "services"],
                {
                    "kind": {"enum": ["Rule"]},
                    "match": {"type": "string", "minLength": 1},
                    "priority": {"type": "integer", "minimum": 0},
                    "middlewares": array(obj(["name"], {"name": NAME})),
                    "services": array(
                        obj(
                            ["name", "port"],
                            {"name": NAME, "port": PORT, "weight": {"type": "integer", "minimum": 0}},
                        )
                    ),
                },
            )
        ),
        "tls": obj(["secretName"], {"secretName": NAME}),
    },
)
MIDDLEWARE = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,  # a Traefik Middleware is exactly one middleware
    "properties": {
        "forwardAuth": obj(["address"], {"address": {"type": "string", "pattern": "^https?://"}}),
        "headers": {"type": "object", "minProperties": 1},
        "buffering": obj(["maxRequestBodyBytes"], {"maxRequestBodyBytes": {"type": "integer", "minimum": 1}}),
        "retry": obj(["attempts"], {"attempts": {"type": "integer", "minimum": 1}}),
        "stripPrefix": obj(["prefixes"], {"prefixes": array({"type": "string", "pattern": "^/"})}),
        "passTLSClientCert": obj(["pem"], {"pem": {"type": "boolean"}}),
    },
    "additionalProperties": False,
}
SERVERS_TRANSPORT = obj(
    ["forwardingTimeouts"],
    {
        "forwardingTimeouts": obj(
            [], dict.fromkeys(("dialTimeout", "responseHeaderTimeout", "idleConnTimeout"), DURATION_GO)
        ),
        "serverName": {"type": "string", "minLength": 1},
        "insecureSkipVerify": {"enum": [False]},  # never rendered otherwise
        "rootCAs": array(
            {
                "type": "object",
                "properties": {"secret": NAME, "configMap": NAME},
                "minProperties": 1,
                "maxProperties": 1,
            }
        ),
        "certificatesSecrets": array(NAME),
    },
)
TLS_OPTION = obj(
    ["minVersion"],
    {
        "minVersion": {"enum": ["VersionTLS12", "VersionTLS13"]},
        "clientAuth": obj(
            ["secretNames", "clientAuthType"],
            {
                "secretNames": array(NAME),
                "clientAuthType": {
                    "enum": [
                        "NoClientCert",
                        "RequestClientCert",
                        "RequireAnyClientCert",
                        "VerifyClientCertIfGiven",
                        "RequireAndVerifyClientCert",
                    ]
                },
            },
        ),
    },
)

PROMETHEUS_RULE = obj(
    ["groups"],
    {
        "groups": array(
            obj(
                ["name", "rules"],
                {
                    "rules": array(
                        obj(
                            ["alert", "expr", "labels"],
                            {
                                "alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                                "expr": {"type": "string", "minLength": 1},
                                "for": PROM_DURATION,
                                "labels": obj(
                                    ["team", "severity"],
                                    {"severity": {"enum": ["critical", "warning"]}},
                                    additionalProperties={"type": "string"},
                                ),
                                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        )
                    )
                },
            )
        )
    },
)
SERVICE_MONITOR = obj(
    ["selector", "endpoints"],
    {
        "selector": obj(["matchLabels"], {}),
        "endpoints": array(
            obj(["port", "path"], {"path": {"type": "string", "pattern": "^/"}, "interval": PROM_DURATION})
        ),
    },
)
KAFKA_TOPIC = obj(
    ["partitions", "replicas"],
    {
        "partitions": {"type": "integer", "minimum": 1},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
    },
)
KAFKA_USER = obj(
    ["authentication", "authorization"],
    {
        "authentication": obj(["type"], {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}}),
        "authorization": obj(
            ["type", "acls"],
            {
                "type": {"enum": ["simple"]},
                "acls": array(
                    obj(
                        ["resource", "operations"],
                        {
                            "resource": obj(
                                ["type", "name"],
                                {
                                    "type": {"enum": ["topic", "group"]},
                                    "patternType": {"enum": ["literal", "prefix"]},
                                },
                            ),
                            "operations": array(
                                {"enum": ["Read", "Write", "Describe", "Create", "Delete", "Alter", "All"]}
                            ),
                        },
                    )
                ),
            },
        ),
    },
)
CERTIFICATE = obj(
    ["secretName", "issuerRef", "dnsNames"],
    {
        "issuerRef": obj(["name", "kind"], {"kind": {"enum": ["Issuer", "ClusterIssuer"]}}),
        "dnsNames": array({"type": "string"}),
    },
)

#: (apiVersion, kind) -> schema of ``spec`` (the object itself for Strimzi's labels, checked separately)
SPECS: dict[tuple[str, str], dict[str, Any]] = {
    ("gateway.networking.k8s.io/v1", "Gateway"): GATEWAY,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTP_ROUTE,
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"): SECURITY_POLICY,
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"): BACKEND_TRAFFIC_POLICY,
    ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"): CLIENT_TRAFFIC_POLICY,
    ("gateway.envoyproxy.io/v1alpha1", "Backend"): EG_BACKEND,
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy"): ENVOY_PROXY,
    ("gateway.networking.k8s.io/v1", "BackendTLSPolicy"): BACKEND_TLS_POLICY,
    ("traefik.io/v1alpha1", "IngressRoute"): INGRESS_ROUTE,
    ("traefik.io/v1alpha1", "Middleware"): MIDDLEWARE,
    ("traefik.io/v1alpha1", "ServersTransport"): SERVERS_TRANSPORT,
    ("traefik.io/v1alpha1", "TLSOption"): TLS_OPTION,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC,
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): KAFKA_USER,
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
}
