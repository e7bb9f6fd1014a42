"""The command line's grammar: every command, its arguments and which function answers it."""

from __future__ import annotations

import argparse

from frontdoor import __version__
from frontdoor.buildinfo import build_kind
from frontdoor.cli.argtypes import port as _port
from frontdoor.cli.argtypes import positive_int as _positive_int
from frontdoor.cli.argtypes import seconds as _seconds
from frontdoor.cli.contract import (
    FORMATS,
    RENDER_FORMATS,
    cmd_check,
    cmd_diff,
    cmd_render,
    cmd_schema,
    cmd_who,
)
from frontdoor.cli.processes import cmd_authz, cmd_demo, cmd_idp, cmd_serve, cmd_token
from frontdoor.cli.verify import add_parser as add_verify

STATE_DIR_HELP = (
    "where stops and the audit log are kept, per Edge and environment (default: $FRONTDOOR_STATE_DIR, "
    "else $XDG_STATE_HOME/frontdoor or ~/.local/state/frontdoor); with rate_limits.store: redis the "
    "stops are kept in Redis and this directory keeps the last ones read"
)


DIR_HELP = "the contract directory (its *.yaml files, subdirectories included)"
ENV_HELP = "the environment (an Environment document's name), e.g. prod"
LOG_HELP = 'the access log: a file to append to, "-" for standard output, or "off"'


def build_parser() -> argparse.ArgumentParser:
    from frontdoor.clihelp import about

    parser = argparse.ArgumentParser(
        prog="frontdoor",
        description="Production as a contract between teams. `frontdoor COMMAND --help` describes each "
        "command, its exit codes and an example; the README links every doc page.",
    )
    parser.add_argument("--version", action="version", version=f"frontdoor {__version__} ({build_kind()})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", **about("check", "validate the contract and give the production verdict")
    )
    check.add_argument("directory", metavar="DIR", help=DIR_HELP)
    check.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        help="check only this environment; repeat it for several (the exit code is the worst of them; "
        "default: every one, in promotion order)",
    )
    check.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (for people: gaps first, then the tables), json (docs/check-json.md), markdown (a pull "
        "request comment), github (workflow annotations), sarif (SARIF 2.1.0 for code scanning) or "
        "junit (JUnit XML for test reports)",
    )
    check.add_argument(
        "--quiet", "-q", action="store_true", help="text: only the findings and the verdict line, no tables"
    )
    check.add_argument(
        "--strict", action="store_true", help="warnings in non-production environments fail too"
    )
    check.set_defaults(handler=cmd_check)

    who = commands.add_parser("who", **about("who", "which route a request takes, and who owns it"))
    who.add_argument("directory", metavar="DIR", help=DIR_HELP)
    who.add_argument("--env", required=True, help=ENV_HELP)
    who.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or json (docs/check-json.md)"
    )
    who.add_argument("method", metavar="METHOD", help="the request's method, e.g. GET")
    who.add_argument(
        "url",
        metavar="URL",
        help="the request's URL; its host and port choose the entrypoint, e.g. "
        "https://shop.example.com/orders/42 (a bare /path is asked of every entrypoint)",
    )
    who.set_defaults(handler=cmd_who)

    diff = commands.add_parser(
        "diff", **about("diff", "how two environments differ in exposure and protection")
    )
    diff.add_argument("directory", metavar="DIR", help=DIR_HELP)
    diff.add_argument(
        "--env", action="append", default=[], required=True, help="give it twice: --env A --env B"
    )
    diff.add_argument(
        "--format", choices=("text", "json"), default="text", help="text, or json (docs/check-json.md)"
    )
    diff.set_defaults(handler=cmd_diff)

    serve = commands.add_parser("serve", **about("serve", "run the gateway for one environment"))
    serve.add_argument("directory", metavar="DIR", help=DIR_HELP)
    serve.add_argument("--env", required=True, help=ENV_HELP)
    serve.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    serve.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N", help="processes sharing the listeners"
    )
    serve.add_argument(
        "--state-dir",
        metavar="DIR",
        help=STATE_DIR_HELP,
    )
    serve.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        help="do not reload on edits of the contract directory (SIGHUP and POST /admin/reload still do)",
    )
    serve.add_argument(
        "--health-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="active health checks of every endpoint; 0 turns them off",
    )
    serve.set_defaults(handler=cmd_serve)

    authz = commands.add_parser(
        "authz",
        **about(
            "authz",
            "answer an ingress's auth checks (nginx auth_request, Traefik ForwardAuth, Envoy ext_authz)",
            "The same decisions as serve, as an external auth service.",
        ),
    )
    authz.add_argument("directory", metavar="DIR", help=DIR_HELP)
    authz.add_argument("--env", required=True, help=ENV_HELP)
    authz.add_argument("--listen", required=True, metavar="ADDR", help="host:port of the check listener")
    authz.add_argument(
        "--dialect",
        choices=("auto", "nginx", "traefik", "envoy"),
        default="auto",
        help="how check requests describe the original request; auto: X-Original-* is nginx, "
        "X-Forwarded-Uri is Traefik, neither is Envoy (pin it in production)",
    )
    authz.add_argument(
        "--path-prefix", metavar="P", help="Envoy's path_prefix, removed from the check path (e.g. /auth)"
    )
    authz.add_argument(
        "--trusted",
        action="append",
        metavar="CIDR",
        help="peers allowed to ask (the ingress); repeatable; default loopback only",
    )
    authz.add_argument("--entrypoint", metavar="NAME", help="only this entrypoint's routes (default: all)")
    authz.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N", help="processes sharing the listener"
    )
    authz.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    authz.add_argument("--state-dir", metavar="DIR", help=STATE_DIR_HELP)
    authz.add_argument(
        "--admin-listen",
        metavar="ADDR",
        help="host:port of the admin listener instead of the Edge's admin.listen (e.g. 0.0.0.0:9901 in a "
        "pod); the admin API runs only when the Edge declares admin",
    )
    authz.set_defaults(handler=cmd_authz)

    demo = commands.add_parser("demo", **about("demo", "the example contract's dev environment on localhost"))
    demo.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default="examples/shop",
        help="the contract (default examples/shop)",
    )
    demo.add_argument("--env", default="dev", help="a non-production environment on loopback (default dev)")
    demo.add_argument("--access-log", default="-", metavar="PATH", help=LOG_HELP)
    demo.add_argument(
        "--port-base",
        type=_port,
        metavar="N",
        help="move every loopback port the environment uses to N, N+1, ...: the gateway's entrypoints, "
        "then the admin listener, the local identity providers and the upstreams "
        "(default: the ports the contract names)",
    )
    demo.set_defaults(handler=cmd_demo)

    render = commands.add_parser(
        "render",
        **about(
            "render",
            "manifests for an existing platform: Kubernetes (gateway-api, ingress-nginx, traefik) or nginx",
        ),
    )
    render.add_argument("directory", metavar="DIR", help=DIR_HELP)
    render.add_argument("--env", required=True, help=ENV_HELP)
    render.add_argument(
        "--target",
        required=True,
        metavar="TARGET",
        help="gateway-api, ingress-nginx, traefik, nginx, prometheus or grafana",
    )
    render.add_argument(
        "--out", required=True, metavar="OUT", help="directory to write (replaced if rendered)"
    )
    render.add_argument(
        "--allow-gaps",
        action="store_true",
        help="render a production environment that has gaps anyway; each file then starts with the gaps "
        "as comments",
    )
    render.add_argument(
        "--format",
        choices=RENDER_FORMATS,
        default="text",
        help="how the gaps are printed when they stop the render: text, github, sarif or junit (as check)",
    )
    render.add_argument(
        "--auth",
        choices=("native", "external"),
        help="gateway-api: Envoy Gateway checks JWTs itself (native, the default) or asks frontdoor authz "
        "(external); the other targets always ask frontdoor authz",
    )
    render.add_argument("--namespace", default="frontdoor", help="Kubernetes namespace of the objects")
    render.add_argument("--image", default=f"frontdoor:{__version__}", help="image that runs frontdoor authz")
    render.add_argument(
        "--edge-namespace",
        help="namespace of the edge controller's proxies (default: the target's usual one)",
    )
    render.add_argument("--gateway-class", default="eg", help="gateway-api: the GatewayClass of the Gateways")
    render.add_argument(
        "--kafka-cluster", default="kafka", help="Strimzi: the Kafka cluster of topics and users"
    )
    render.add_argument(
        "--authz-url", default="http://127.0.0.1:9191", help="nginx: where frontdoor authz listens on the VM"
    )
    render.add_argument(
        "--authz-trusted",
        action="append",
        metavar="CIDR",
        help="Kubernetes: networks the authz believes (its --trusted); repeat it. Default: the private "
        "ranges, with a NetworkPolicy that admits only the edge's proxies",
    )
    render.set_defaults(handler=cmd_render)

    add_verify(commands, DIR_HELP)

    token = commands.add_parser(
        "token",
        **about(
            "token",
            "print a token from the local identity provider (development only)",
            "Signs with the keys of the local identity provider that `frontdoor demo` and `frontdoor idp` "
            "serve; keys live in $FRONTDOOR_STATE_DIR, else $XDG_STATE_HOME/frontdoor. The issuer is the "
            "one the running demo (or idp) wrote there, unless --issuer names another.",
        ),
    )
    token.add_argument("--sub", required=True, help="the subject (sub claim)")
    token.add_argument(
        "--scope", action="append", default=[], help='space-separated scopes, e.g. "orders:read orders:write"'
    )
    token.add_argument(
        "--claim", action="append", default=[], metavar="NAME=VALUE", help="an extra claim; JSON values ok"
    )
    token.add_argument("--ttl", default="1h", help="lifetime, e.g. 90s, 15m, 1h (default 1h)")
    token.add_argument("--aud", action="append", help="audience; repeatable (default shop-api)")
    token.add_argument("--alg", choices=("RS256", "ES256"), default="RS256", help="the signing algorithm")
    token.add_argument(
        "--issuer",
        help="the iss claim (default: the issuer of the running demo or idp, else http://127.0.0.1:9400/)",
    )
    token.add_argument(
        "--scopes-claim", choices=("scope", "scp"), default="scope", help="scope (string) or scp (list)"
    )
    token.set_defaults(handler=cmd_token)

    idp = commands.add_parser(
        "idp", **about("idp", "run the local identity provider alone (discovery, JWKS, browser sign-in)")
    )
    idp.add_argument(
        "--listen",
        default="127.0.0.1:9400",
        metavar="ADDR",
        help="host:port to serve on (default 127.0.0.1:9400)",
    )
    idp.add_argument("--issuer", help="the issuer URL (default http://ADDR/)")
    idp.add_argument(
        "--aud",
        action="append",
        help="audience of the tokens frontdoor token mints while this runs (default shop-api)",
    )
    idp.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a claim every person who signs in gets, e.g. role=admin (JSON values too); repeatable",
    )
    idp.add_argument(
        "--scope",
        action="append",
        default=[],
        help="a scope added to the access token of every sign-in, e.g. orders:read; repeatable",
    )
    idp.set_defaults(handler=cmd_idp)

    schema = commands.add_parser("schema", **about("schema", "the JSON Schema of contract documents"))
    schema.set_defaults(handler=cmd_schema)
    return parser
