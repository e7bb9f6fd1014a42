"""Client certificates, per-host certificates and upstream TLS on the Kubernetes targets: each target
wires what serve does with its controller's own objects (render/k8s_tls.py), every object stays valid
against its CRD's schema, and what a controller cannot say is refused, never rendered weaker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from frontdoor.render import RenderError

from .conftest import edit
from .render_schemas import SPECS
from .test_render import CORE_GROUPS, KUBERNETES_VERSION, documents, rendered

EU_HOST = "eu.hooks.shop.example.com"


def mtls_shop(root: Path) -> Path:
    """The shop with client certificates (optional) and a certificate for one host on the webhooks
    entrypoint, which now also serves the subdomains of its host; orders' upstreams are https,
    verified against a CA by name, with a client certificate of the gateway's (mutual TLS)."""
    edit(
        root,
        "edges/public.yaml",
        "hosts: [hooks.shop.example.com]",
        'hosts: [hooks.shop.example.com, "*.hooks.shop.example.com"]',
    )
    edit(
        root,
        "edges/public.yaml",
        '        min_version: "1.3"\n',
        '        min_version: "1.3"\n'
        "        client_auth: {ca: secret:partner-ca, mode: optional}\n"
        "        certificates:\n"
        f"          - {{hosts: [{EU_HOST}], cert: secret:eu-hooks-tls, key: secret:eu-hooks-tls}}\n"
        "          - {hosts: [elsewhere.example.org], cert: secret:elsewhere-tls, key: secret:elsewhere-tls}\n",
    )
    tls = "tls: {ca: secret:orders-upstream, server_name: orders.internal, cert: secret:orders-upstream, key: secret:orders-upstream}"
    edit(
        root,
        "environments/prod.yaml",
        '{url: "http://10.1.0.11:8080", weight: 90}',
        f'{{url: "https://10.1.0.11:8443", weight: 90, {tls}}}',
    )
    edit(
        root,
        "environments/prod.yaml",
        '{url: "http://10.1.0.12:8080", weight: 10}',
        f'{{url: "https://10.1.0.12:8443", weight: 10, {tls}}}',
    )
    secrets = "".join(
        f"    {name}: file:/etc/frontdoor/tls/{name}.pem\n"
        for name in ("partner-ca", "eu-hooks-tls", "elsewhere-tls", "orders-upstream")
    )
    for env in ("prod", "test"):
        edit(root, f"environments/{env}.yaml", "    redis-url:", secrets + "    redis-url:")
    return root


def valid(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["apiVersion"] in CORE_GROUPS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        else:
            jsonschema.validate(doc["spec"], SPECS[(doc["apiVersion"], doc["kind"])])


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_gateway_api(shop_copy: Path) -> None:
    docs = documents(rendered("gateway-api", mtls_shop(shop_copy)))
    valid(docs)
    listeners = {
        listener.get("hostname"): listener["tls"]["certificateRefs"][0]["name"]
        for listener in named(docs, "Gateway", "webhooks")["spec"]["listeners"]
    }
    # the certificate serve presents for each name; none for a name the entrypoint does not serve
    assert listeners == {
        "hooks.shop.example.com": "hooks-tls-cert",
        "*.hooks.shop.example.com": "hooks-tls-cert",
        EU_HOST: "eu-hooks-tls",
    }
    hooks = named(docs, "ClientTrafficPolicy", "webhooks")["spec"]
    assert hooks["tls"]["clientValidation"] == {
        "caCertificateRefs": [{"group": "", "kind": "Secret", "name": "partner-ca"}],
        "optional": True,
    }
    assert hooks["headers"]["xForwardedClientCert"] == {"mode": "SanitizeSet", "certDetailsToAdd": ["Cert"]}
    public = named(docs, "ClientTrafficPolicy", "public")["spec"]
    assert "clientValidation" not in public["tls"] and "xForwardedClientCert" not in public["headers"]
    # every ext_authz check carries the verified certificate to the authz
    for policy in (d for d in docs if d["kind"] == "SecurityPolicy" and "extAuth" in d["spec"]):
        assert "x-forwarded-client-cert" in policy["spec"]["extAuth"]["headersToExtAuth"]
    for index in (0, 1):
        policy = named(docs, "BackendTLSPolicy", f"orders-upstream-{index}")["spec"]
        assert policy == {
            "targetRefs": [{"group": "", "kind": "Service", "name": f"orders-upstream-{index}"}],
            "validation": {
                "hostname": "orders.internal",
                "caCertificateRefs": [{"group": "", "kind": "Secret", "name": "orders-upstream"}],
            },
        }
    proxy = next(d for d in docs if d["kind"] == "EnvoyProxy")
    assert proxy["spec"]["backendTLS"]["clientCertificateRef"] == {
        "kind": "Secret",
        "name": "orders-upstream",
        "namespace": "frontdoor",
    }
    ref = named(docs, "Gateway", "public")["spec"]["infrastructure"]["parametersRef"]
    assert ref["name"] == proxy["metadata"]["name"]
    assert "infrastructure" not in named(docs, "Gateway", "webhooks")["spec"]


def test_gateway_api_verifies_an_https_upstream_against_the_system_store(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "environments/prod.yaml",
        '"http://10.1.0.41:8080"',
        '{url: "https://10.1.0.41:8443", tls: {server_name: account.internal}}',
    )
    docs = documents(rendered("gateway-api", shop_copy))
    valid(docs)
    assert named(docs, "BackendTLSPolicy", "account-upstream-0")["spec"]["validation"] == {
        "hostname": "account.internal",
        "wellKnownCACertificates": "System",
    }
    assert not any(d["kind"] == "EnvoyProxy" for d in docs)


def test_ingress_nginx(shop_copy: Path) -> None:
    docs = documents(rendered("ingress-nginx", mtls_shop(shop_copy)))
    valid(docs)
    payments = named(docs, "Ingress", "payments")
    annotations = payments["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert annotations[prefix + "auth-tls-secret"] == "frontdoor/partner-ca"
    assert annotations[prefix + "auth-tls-verify-client"] == "optional"
    assert annotations[prefix + "auth-tls-pass-certificate-to-upstream"] == "true"  # to the auth subrequest
    assert annotations[prefix + "auth-tls-verify-depth"] == "100"
    assert {"secretName": "eu-hooks-tls", "hosts": [EU_HOST]} in payments["spec"]["tls"]
    assert EU_HOST in [rule.get("host") for rule in payments["spec"]["rules"]]
    assert "elsewhere.example.org" not in str(payments["spec"])
    orders = named(docs, "Ingress", "orders")["metadata"]["annotations"]
    assert not any(key.startswith(prefix + "auth-tls") for key in orders)
    assert {
        key.removeprefix(prefix): value for key, value in orders.items() if "ssl" in key or "protocol" in key
    } == {
        "backend-protocol": "HTTPS",
        "proxy-ssl-secret": "frontdoor/orders-upstream",
        "proxy-ssl-verify": "on",
        "proxy-ssl-verify-depth": "100",
        "proxy-ssl-name": "orders.internal",
        "proxy-ssl-server-name": "on",
        "proxy-ssl-protocols": "TLSv1.2 TLSv1.3",
    }


def test_traefik(shop_copy: Path) -> None:
    docs = documents(rendered("traefik", mtls_shop(shop_copy)))
    valid(docs)
    strip = named(docs, "Middleware", "frontdoor-strip-identity")["spec"]["headers"]["customRequestHeaders"]
    assert strip["X-Forwarded-Tls-Client-Cert"] == ""  # a client's own never reaches the authz
    assert named(docs, "Middleware", "frontdoor-client-cert")["spec"] == {"passTLSClientCert": {"pem": True}}
    assert named(docs, "TLSOption", "webhooks")["spec"]["clientAuth"] == {
        "secretNames": ["partner-ca"],
        "clientAuthType": "VerifyClientCertIfGiven",
    }
    assert "clientAuth" not in named(docs, "TLSOption", "public")["spec"]
    payments = named(docs, "IngressRoute", "payments-webhooks")["spec"]
    chain = [m["name"] for m in payments["routes"][0]["middlewares"]]
    assert chain[:3] == ["frontdoor-strip-identity", "frontdoor-client-cert", "frontdoor-authz"]
    orders = named(docs, "IngressRoute", "orders-public")["spec"]
    assert "frontdoor-client-cert" not in str(orders)
    eu = named(docs, "IngressRoute", "payments-webhooks-eu-hooks-tls")["spec"]
    assert eu["tls"] == {"secretName": "eu-hooks-tls", "options": {"name": "webhooks"}}
    assert all(route["match"].startswith(f"Host(`{EU_HOST}`) && ") for route in eu["routes"])
    assert [r["middlewares"] for r in eu["routes"]] == [r["middlewares"] for r in payments["routes"]]
    transports = {s["serversTransport"] for s in orders["routes"][0]["services"]}
    assert transports == {"orders-upstream-0", "orders-upstream-1"}
    transport = named(docs, "ServersTransport", "orders-upstream-0")["spec"]
    assert transport["rootCAs"] == [{"secret": "orders-upstream"}]
    assert transport["serverName"] == "orders.internal"
    assert transport["certificatesSecrets"] == ["orders-upstream"]
    assert (
        transport["forwardingTimeouts"]
        == named(docs, "ServersTransport", "frontdoor-upstreams")["spec"]["forwardingTimeouts"]
    )


def test_traefik_checks_an_ip_upstream_by_its_address(shop_copy: Path) -> None:
    """Go verifies an IP address against the certificate's IP addresses, as serve does: no serverName."""
    edit(
        shop_copy,
        "environments/prod.yaml",
        '"http://10.1.0.41:8080"',
        '{url: "https://10.1.0.41:8443", tls: {ca: secret:account-ca}}',
    )
    edit(
        shop_copy, "environments/prod.yaml", "    redis-url:", "    account-ca: file:/ca.pem\n    redis-url:"
    )
    docs = documents(rendered("traefik", shop_copy))
    assert named(docs, "ServersTransport", "account-upstream-0")["spec"]["rootCAs"] == [
        {"secret": "account-ca"}
    ]
    assert "serverName" not in named(docs, "ServersTransport", "account-upstream-0")["spec"]
    for target in ("gateway-api", "ingress-nginx"):
        with pytest.raises(
            RenderError, match=r"https://10\.1\.0\.41:8443/? of account: .* give it tls\.server_name"
        ):
            rendered(target, shop_copy)


def test_what_a_controller_cannot_say_is_refused(shop_copy: Path) -> None:
    edit(
        shop_copy,
        "environments/prod.yaml",
        '"http://10.1.0.41:8080"',
        '{url: "https://10.1.0.41:8443", tls: {server_name: account.internal}}',
    )
    # ingress-nginx has no system store for upstreams: unverified would be the only other way
    with pytest.raises(RenderError, match=r"ingress-nginx verifies an https upstream only against a CA"):
        rendered("ingress-nginx", shop_copy)
    edit(
        shop_copy,
        "environments/prod.yaml",
        "tls: {server_name: account.internal}",
        "tls: {server_name: account.internal, ca: secret:account-ca, cert: secret:account-client, key: secret:account-client}",
    )
    edit(
        shop_copy,
        "environments/prod.yaml",
        '"http://10.1.0.21:8080", "http://10.1.0.22:8080"',
        '{url: "https://10.1.0.21:8443", tls: {server_name: catalog.internal, cert: secret:catalog-client, key: secret:catalog-client}}',
    )
    secrets = "".join(
        f"    {name}: file:/{name}.pem\n" for name in ("account-ca", "account-client", "catalog-client")
    )
    edit(shop_copy, "environments/prod.yaml", "    redis-url:", secrets + "    redis-url:")
    with pytest.raises(
        RenderError, match=r"ingress-nginx reads the upstream's CA and the client certificate from one Secret"
    ):
        rendered("ingress-nginx", shop_copy)
    # Envoy Gateway: one upstream client certificate per Gateway
    with pytest.raises(
        RenderError,
        match=r"entrypoint public: .* one client certificate per Gateway.*account-client.*catalog-client",
    ):
        rendered("gateway-api", shop_copy)
    valid(documents(rendered("traefik", shop_copy)))  # a ServersTransport per upstream: each its own


def test_ingress_nginx_refuses_entrypoints_that_disagree_on_client_certificates(shop_copy: Path) -> None:
    mtls_shop(shop_copy)
    edit(shop_copy, "edges/public.yaml", "services: [payments]", "services: [payments, catalog]")
    with pytest.raises(
        RenderError, match=r"service catalog: ingress-nginx asks for client certificates per host"
    ):
        rendered("ingress-nginx", shop_copy)


def test_the_schemas_catch_what_the_controllers_refuse(shop_copy: Path) -> None:
    docs = documents(rendered("gateway-api", mtls_shop(shop_copy)))
    policy = named(docs, "BackendTLSPolicy", "orders-upstream-0")["spec"]
    schema = SPECS[("gateway.networking.k8s.io/v1", "BackendTLSPolicy")]
    for broken in (
        {**policy, "validation": {**policy["validation"], "wellKnownCACertificates": "System"}},  # two trusts
        {**policy, "validation": {**policy["validation"], "hostname": "10.1.0.11"}},  # an address
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
    proxy = next(d for d in docs if d["kind"] == "EnvoyProxy")["spec"]
    del proxy["backendTLS"]["clientCertificateRef"]["namespace"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(proxy, SPECS[("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy")])
    ctp = named(docs, "ClientTrafficPolicy", "webhooks")["spec"]
    ctp["headers"]["xForwardedClientCert"]["mode"] = "Sanitize"  # details Envoy would never add
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ctp, SPECS[("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy")])
