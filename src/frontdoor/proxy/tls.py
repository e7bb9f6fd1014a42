"""TLS termination per entrypoint, with certificates from the Environment's secret references."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from frontdoor.contract.models import Tls
from frontdoor.errors import FrontdoorError
from frontdoor.plan import Plan
from frontdoor.secretstore import secret_file

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def server_context(tls: Tls, plan: Plan) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.set_alpn_protocols(["http/1.1"])
    scratch = Path(tempfile.mkdtemp(prefix="frontdoor-tls-"))
    cert = secret_file(tls.cert, plan.environment_doc, scratch)
    key = secret_file(tls.key, plan.environment_doc, scratch)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise FrontdoorError(f"cannot load the certificate {tls.cert} with key {tls.key}: {exc}") from None
    return context
