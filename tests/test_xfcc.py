"""Envoy's x-forwarded-client-cert as ``authz`` reads it (policy/xfcc.py): the certificate of the one
client it describes, from Cert or from Subject and URI; anything ambiguous or malformed is refused."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from frontdoor.policy.clientcert import CertificateUnreadable
from frontdoor.policy.xfcc import from_xfcc

from .pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_cert_is_read_whole(pki: Pki) -> None:
    pem = quote(pki.batch.pem.decode(), safe="")
    certificate = from_xfcc(f'By=spiffe://edge/envoy;Hash=ab;Cert="{pem}";Subject="CN=x,O=y"'.encode())
    assert certificate.san_uris == ("spiffe://shop.test/batch",)
    assert certificate.subject == "CN=batch,O=Example"  # the certificate's, not the field's


@pytest.mark.parametrize(
    ("value", "subject", "uris"),
    [
        ('Subject="CN=auditor,O=Example"', "CN=auditor,O=Example", ()),
        ("Subject=/O=Example/CN=auditor", "CN=auditor,O=Example", ()),  # OpenSSL's older spelling
        ("URI=spiffe://a/b;URI=spiffe://a/c;DNS=a.test", "", ("spiffe://a/b", "spiffe://a/c")),
        # RFC 2253's own escapes stay; Envoy escapes the quotes once more
        ('Hash=ab;Subject="CN=a \\\\"q\\\\" b";URI=spiffe://a/b', 'CN=a \\"q\\" b', ("spiffe://a/b",)),
        ('Subject="CN=a\\,b\\;c,O=d"', "CN=a\\,b\\;c,O=d", ()),  # a quoted , and ; are the value's
    ],
)
def test_fields(value: str, subject: str, uris: tuple[str, ...]) -> None:
    certificate = from_xfcc(value.encode())
    assert certificate.subject == subject and certificate.san_uris == uris


@pytest.mark.parametrize(
    "value",
    [
        "URI=spiffe://a/b,URI=spiffe://a/c",  # two clients
        "Hash=ab;By=spiffe://edge",  # nothing that names the client
        'Subject="CN=a',  # unterminated quote
        "Subject=not a name",
        "URI",  # a field without a value
        'Cert="not%20a%20certificate"',
        "Subject=CN=a;Subject=CN=b",
        "",
    ],
)
def test_refused(value: str) -> None:
    with pytest.raises(CertificateUnreadable):
        from_xfcc(value.encode())
