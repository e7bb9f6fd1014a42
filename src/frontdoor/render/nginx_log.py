"""The rendered nginx's access log, shaped by the Edge's ``observability.access_log`` as serve's is:
``format`` json or text, the request headers ``headers`` names, and ``[redacted]`` for those also in
``redact_headers`` (an nginx ``map``: the value never reaches the log, only whether one was sent).
"""

from __future__ import annotations

from frontdoor.contract.models import AccessLog


def _variable(header: str) -> str:
    return "http_" + header.replace("-", "_")


def access_log_lines(settings: AccessLog) -> list[str]:
    """The ``http``-level lines: a map per redacted logged header, the log format, the access log."""
    lines: list[str] = []
    values: list[tuple[str, str]] = []  # (header, the nginx variable logged for it)
    for header in settings.headers:
        variable = _variable(header)
        if header in settings.redact_headers:
            redacted = f"frontdoor_redacted_{variable}"
            lines.append(f'map ${variable} ${redacted} {{ "" ""; default "[redacted]"; }}')
            variable = redacted
        values.append((header, variable))
    if settings.format == "text":
        logged = "".join(f" header.{h}=${v}" for h, v in values)
        lines.append(
            'log_format frontdoor \'$time_iso8601 $remote_addr "$request_method $host$uri" $status '
            f"request_id=$request_id bytes=$body_bytes_sent duration_s=$request_time "
            f"upstream=$upstream_addr{logged}';"
        )
    else:
        logged = ""
        if values:
            logged = ',"headers":{' + ",".join(f'"{h}":"${v}"' for h, v in values) + "}"
        lines.append(
            'log_format frontdoor escape=json \'{"time":"$time_iso8601","request_id":"$request_id",'
            '"method":"$request_method","path":"$uri","status":$status,'
            f'"bytes":$body_bytes_sent,"duration_s":$request_time,"upstream":"$upstream_addr"{logged}}}\';'
        )
    lines.append("access_log /dev/stdout frontdoor;")
    return lines
