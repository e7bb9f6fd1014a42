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

The shape is chosen when the contract is loaded (``configure``), as the bound method ``emit``: the
JSON line without headers goes straight to ``add``, with no question asked per request.

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

Headers = Sequence[tuple[bytes, bytes]]
REDACTED: Final = "[redacted]"
# a value written bare in a text line; anything else is written as a JSON string (quotes, escapes)
_BARE: Final = re.compile(r"^[A-Za-z0-9._:/@+=,&*\[\]-]+$")
# the leading fields of a text line, in this order; the rest follow as key=value
_LEADING: Final = ("time", "client", "method", "host", "path", "status")
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii


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
        #: emit(json_line, request_headers): queue one request's line in the configured shape
        self.emit: Callable[[str, Headers], None] = self.add
        self._plan: object = None

    # --- the shape, chosen once per contract ---------------------------------------------------------

    def configure(self, observability: Observability | None) -> None:
        settings = observability.access_log if observability is not None else None
        self.on = self.stream is not None and settings is not None  # no access_log block: no lines
        self.text = settings is not None and settings.format == "text"
        redact = set(settings.redact_headers) if settings is not None else set()
        self.logged = {n.encode("latin-1"): n in redact for n in settings.headers} if settings else {}
        if self.text:
            self.emit = self._emit_text
        elif self.logged:
            self.emit = self._emit_with_headers
        else:
            self.emit = self.add  # today's fast path: the line as it was built

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
        second = int(time.time())
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
