"""The access log of serve and authz: one line per request, shaped by the Edge's ``observability.access_log``.

- Without ``access_log`` in the Edge, no line is written (the ``--access-log`` option only says where
  lines go).
- ``format: json`` (the default): one JSON object a line. ``text``: one human line, ``time client
  "METHOD host path" status`` then ``key=value`` for every other field that is set (see
  docs/operations.md). Both carry the same fields; text costs more (it is made from the JSON line).
- ``headers``: request headers whose values each line records, under ``headers`` (JSON) or as
  ``header.NAME=value`` (text). A header that is also in ``redact_headers`` is recorded as
  ``[redacted]``: the line shows it was sent, never its value. No other header is ever logged, and of
  the query only the parameter names are.

A request's line is assembled here (``request``) from what the gateway knows of it, as the JSON line;
the shape is chosen when the contract is loaded (``configure``): the JSON line without headers goes
straight to ``add``.

Lines are buffered and written every FLUSH_S seconds (or every BATCH lines): a write and a flush per
request cost more than the rest of the log line.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    from frontdoor.contract.models import Observability
    from frontdoor.plan import Plan

from frontdoor.memo import Memo

Headers = Sequence[tuple[bytes, bytes]]
REDACTED: Final = "[redacted]"
# a value written bare in a text line; anything else is written as a JSON string (quotes, escapes)
_BARE: Final = re.compile(r"^[A-Za-z0-9._:/@+=,&*\[\]-]+$")
# the leading fields of a text line, in this order; the rest follow as key=value
_LEADING: Final = ("time", "client", "method", "host", "path", "status")
# the wall clock of the lines' time, bound once: compiled, a module attribute lookup costs more than the call
_wall_clock: Final = time.time
# json's string encoder (the C one when available), as JSONEncoder uses it with ensure_ascii
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii
# JSON strings of the clients, hosts and paths a gateway keeps seeing (bounded, emptied when full)
_JSON_STRINGS: Final[Memo[str, str]] = Memo(4096)
# the identity and deny fields of a user admitted by token alone, by subject (bounded)
_SUBJECT_FIELDS: Final[Memo[str, str]] = Memo(4096)
#: the identity and deny fields of a request with none of them: the common case, one constant
NOBODY: Final = '"subject":null,"api_client":null,"denied_by":null,"deny_kind":null'
#: the upstream failure field of a request with none (between ``attempts`` and the identity fields,
#: commas included: the line's one join gets no more parts for it)
NO_FAILURE: Final = ',"upstream_failure":null,'
#: the route fields of a request no route matched
UNROUTED: Final = '"route":null,"route_path":null,"service":null,"owner":null,"clause":null'
# the shapes configure() picks
_PLAIN: Final = 0  # the JSON line as built
_WITH_HEADERS: Final = 1  # the JSON line and the logged request headers
_TEXT: Final = 2  # a human line made from the JSON line


def json_string(text: str) -> str:
    """``text`` as a JSON string, remembered for short texts."""
    encoded = _JSON_STRINGS.get(text)
    if encoded is None:
        encoded = _string(text)
        if len(text) <= 200:
            _JSON_STRINGS.keep(text, encoded)
    return encoded


# ".00" to ".99": the two decimals as one string, instead of a str() and two concatenations per duration
_FRACTIONS: Final = tuple(f".{n:02d}" for n in range(100))


def milliseconds(seconds: float) -> str:
    """``seconds`` as milliseconds with two decimals (a JSON number): integer arithmetic, since a float
    format goes through dtoa and was the dearest part of a line (measured: bench/instructions.py)."""
    hundredths = int(seconds * 100_000 + 0.5)
    return str(hundredths // 100) + _FRACTIONS[hundredths % 100]


def route_fields(route_id: str, path: str, service: str, owner: str, clause: str | None) -> str:
    """A routed request's route fields, made once per route by the caller."""
    return (
        f'"route":{_string(route_id)},"route_path":{_string(path)},"service":{_string(service)},'
        f'"owner":{_string(owner)},"clause":{_string(clause) if clause else "null"}'
    )


def failure_field(name: str) -> str:
    """The upstream failure field naming ``name`` (made once per failure by the caller)."""
    return ',"upstream_failure":' + _string(name) + ","


def who_fields(subject: str | None, api_client: str | None, denied_by: str, deny_kind: str) -> str:
    """The identity and deny fields; those of an admitted user (a subject alone) are made once."""
    if subject and not api_client and not denied_by:
        fields = _SUBJECT_FIELDS.get(subject)
        if fields is None:
            fields = _SUBJECT_FIELDS.keep(subject, _who(subject, None, "", ""))
        return fields
    if subject or api_client or denied_by:
        return _who(subject, api_client, denied_by, deny_kind)
    return NOBODY


def _who(subject: str | None, api_client: str | None, denied_by: str, deny_kind: str) -> str:
    return (
        f'"subject":{_string(subject) if subject else "null"},'
        f'"api_client":{_string(api_client) if api_client else "null"},'
        f'"denied_by":{_string(denied_by) if denied_by else "null"},'
        f'"deny_kind":{_string(deny_kind) if deny_kind else "null"}'
    )


def _text_value(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return text if _BARE.match(text) else _string(text)


def text_line(record: dict[str, object]) -> str:
    """``record`` as one human line: ``time client "METHOD host path" status key=value...`` (fields
    that are null are left out; a string with a space, quote or control character is JSON-quoted, so a
    line never breaks)."""
    parts = [_text_value(record.get("time", "-")), _text_value(record.get("client") or "-")]
    if record.get("method") is not None:
        parts.append(_string(f"{record['method']} {record.get('host') or ''}{record.get('path') or ''}"))
    if "status" in record:
        parts.append(_text_value(record["status"]))
    for key, value in record.items():
        if key in _LEADING or value is None:
            continue
        if isinstance(value, dict):
            parts.extend(f"header.{name}={_text_value(v)}" for name, v in value.items())
        else:
            parts.append(f"{key}={_text_value(value)}")
    return " ".join(parts)


class AccessLog:
    FLUSH_S: Final = 0.25
    BATCH: Final = 512

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        #: lines are written: a stream to write them to, and an Edge that declares ``access_log``
        self.on = stream is not None
        self.lines: list[str] = []
        self.encode = json.JSONEncoder(separators=(",", ":")).encode
        self._second = -1
        self._stamp = ""
        self._stamp_json = '""'
        self.text = False
        self.logged: dict[bytes, bool] = {}  # lowercased name -> redacted
        self.shape = _PLAIN
        self._plan: object = None

    # --- the shape, chosen once per contract ---------------------------------------------------------

    def configure(self, observability: Observability | None) -> None:
        settings = observability.access_log if observability is not None else None
        self.on = self.stream is not None and settings is not None  # no access_log block: no lines
        self.text = settings is not None and settings.format == "text"
        redact = set(settings.redact_headers) if settings is not None else set()
        self.logged = {n.encode("latin-1"): n in redact for n in settings.headers} if settings else {}
        self.shape = _TEXT if self.text else _WITH_HEADERS if self.logged else _PLAIN

    def follow(self, plan: Plan) -> None:
        """``configure`` for ``plan`` unless it is the plan already followed (authz, per check)."""
        if plan is not self._plan:
            self._plan = plan
            self.configure(plan.edge.spec.observability)

    def header_values(self, headers: Headers) -> dict[str, str]:
        """The logged headers of a request, redacted ones as ``[redacted]``; repeated ones joined."""
        found: dict[str, str] = {}
        logged = self.logged
        for name, value in headers:
            lower = name.lower()
            redacted = logged.get(lower)
            if redacted is None:
                continue
            text = REDACTED if redacted else value.decode("latin-1")
            key = lower.decode("latin-1")
            found[key] = found[key] + ", " + text if key in found and not redacted else text
        return found

    def request(
        self,
        request_id: str,
        traceparent: bytes,
        client: str,
        method: str,
        version: str,
        host: str,
        path: str,
        target: str,
        status: int,
        bytes_out: int,
        seconds: float,
        upstream_seconds: float,
        routed: str,
        upstream: str,
        attempts: int,
        who: str,
        headers: Headers,
        failure: str = NO_FAILURE,
        bytes_in: int = -1,
    ) -> None:
        """Queue a request's line. ``routed`` (route_fields or UNROUTED), ``upstream`` (a JSON string or
        null), ``failure`` (NO_FAILURE or failure_field) and ``who`` (who_fields) are JSON already;
        ``upstream_seconds`` is negative when the request never went upstream; of ``target`` only the
        query's parameter names are logged. ``bytes_in``, the bytes a WebSocket tunnel carried from the
        client, is logged only for a tunnel (0 or more).

        The line is the object json would encode from a dict with these keys in this order, built
        directly as one f-string (compiled: one call that sizes and fills the line, no tuple of parts,
        no format parsed per call): every string goes through json's own string encoder; the ids and
        the method need no escaping (checked when read)."""
        query = "null"
        if "?" in target:  # the names of the query's parameters, never their values (tokens travel there)
            query = _string("&".join(p.partition("=")[0] for p in target.partition("?")[2].split("&")))
        # the request id: [A-Za-z0-9._:@/+=-] (tracing.valid_request_id) or hex; the trace id: 32 hex
        # digits; the method: an RFC 9110 token (llhttp refuses anything else); the version: "1.1",
        # "1.0" or "2" (http/h2head.py)
        trace_id = f'"{traceparent[3:35].decode("ascii")}"' if traceparent else "null"
        tunnel = f',"bytes_in":{bytes_in}' if bytes_in >= 0 else ""
        upstream_ms = milliseconds(upstream_seconds) if upstream_seconds >= 0 else "null"
        line = (
            f'{{"time":{self.now_json()},"request_id":"{request_id}","trace_id":{trace_id},'
            f'"client":{json_string(client)},"method":"{method}","protocol":"HTTP/{version}",'
            f'"host":{json_string(host)},"path":{json_string(path)},"query":{query},'
            f'"status":{status},"bytes":{bytes_out}{tunnel},"duration_ms":{milliseconds(seconds)},'
            f'"upstream_ms":{upstream_ms},{routed},"upstream":{upstream},"attempts":{attempts}'
            f"{failure}{who}}}"
        )
        self.emit(line, headers)

    def emit(self, line: str, headers: Headers) -> None:
        """Queue one request's JSON ``line`` in the shape the Edge asks for (``configure``)."""
        shape = self.shape
        if shape == _PLAIN:
            self.add(line)
        elif shape == _WITH_HEADERS:
            self._emit_with_headers(line, headers)
        else:
            self._emit_text(line, headers)

    def _emit_with_headers(self, line: str, headers: Headers) -> None:
        values = self.header_values(headers)
        if values:
            line = line[:-1] + ',"headers":' + self.encode(values) + "}"
        self.add(line)

    def _emit_text(self, line: str, headers: Headers) -> None:
        record = json.loads(line)
        if self.logged and (values := self.header_values(headers)):
            record["headers"] = values
        self.add(text_line(record))

    # --- lines ---------------------------------------------------------------------------------------

    def now(self) -> str:
        """The time, to the second, formatted once a second rather than once a request."""
        second = int(_wall_clock())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
            self._stamp_json = '"' + self._stamp + '"'
        return self._stamp

    def now_json(self) -> str:
        """``now()`` as a JSON string."""
        self.now()
        return self._stamp_json

    def write(self, record: dict[str, object], headers: Headers = ()) -> None:
        """Queue a line made from ``record`` (authz, and the gateway's protocol errors)."""
        if not self.on:
            return
        if self.logged and (values := self.header_values(headers)):
            record["headers"] = values
        self.add(text_line(record) if self.text else self.encode(record))

    def add(self, line: str, headers: Headers = ()) -> None:
        """Queue one finished line (``headers`` is unused: the signature of ``emit``)."""
        lines = self.lines
        lines.append(line)
        if len(lines) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self.lines and self.stream is not None:
            self.lines.append("")
            self.stream.write("\n".join(self.lines))
            self.stream.flush()
            self.lines.clear()
