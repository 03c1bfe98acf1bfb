"""What comes back from a remote host, read as hostile data.

The remote output is split at marker lines that carry this run's nonce; everything
else (a login script's chatter) is ignored. The agent's JSON envelope is parsed with a
size cap, then rebuilt field by field into the report model (:func:`report_from_dict`):
types are checked, unknown statuses/outcomes/causes are refused or downgraded, lists
and strings are capped, every string is cleaned (control characters escaped, secrets
masked) before any renderer sees it. A remote portdoctor of another version is
detected (:func:`read_envelope` returns it) so the caller can report it instead of
trusting its findings.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any, TypeVar

from portdoctor.causes import CAUSES
from portdoctor.model import Finding, HostInfo, Outcome, Probe, Remediation, Report, Socket, Status, Target, Verdict
from portdoctor.records import dataclass, field

MAX_ENVELOPE = 4 * 1024 * 1024
MAX_TEXT = 2000
MAX_DETAIL = 8000
MAX_ITEMS = 200
MAX_EVIDENCE = 16 * 1024

_CREATED = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|\+00:00)$")


class RemoteDataError(ValueError):
    """The remote output is not what the agent writes."""


@dataclass
class RemoteOutput:
    """The sections of one remote run's stdout."""

    report: str | None = None  # the agent's JSON envelope, as text
    reduced: dict[str, str] = field(default_factory=dict)  # section name -> text (no python3 there)
    notes: list[str] = field(default_factory=list)  # "no-sudo", ...
    errors: list[str] = field(default_factory=list)


def split_output(stdout: bytes, nonce: str) -> RemoteOutput:
    """Cut the remote stdout at this run's marker lines."""
    text = stdout.decode("utf-8", "replace")
    out = RemoteOutput()
    current: str | None = None
    buffer: list[str] = []

    def flush() -> None:
        if current is None:
            return
        body = "\n".join(buffer)
        if current == "report":
            out.report = body
        elif current.startswith("section "):
            out.reduced[current[8:]] = body
        buffer.clear()

    for line in text.split("\n"):
        if line.startswith(nonce + " "):
            flush()
            word = line[len(nonce) + 1:].strip()
            if word.startswith("note "):
                out.notes.append(clean(word[5:], 200))
                current = None
            elif word.startswith("error "):
                out.errors.append(clean(word[6:], 300))
                current = None
            elif word in ("end", "reduced"):
                if word == "reduced":
                    out.reduced.setdefault("_", "")
                current = None
            else:
                current = word
            continue
        if current is not None:
            buffer.append(line)
    flush()
    return out


def clean(value: object, limit: int = MAX_TEXT, *, lines: bool = False) -> str:
    """A remote string made safe to keep: the shared sanitiser (controls, bidi made visible), capped, masked.

    ``lines`` keeps line breaks (a finding's detail); ``\r`` is dropped there.
    """
    from portdoctor.masking import mask_urls_in
    from portdoctor.sanitize import clean_text

    text = "" if value is None else str(value)
    if lines:
        text = text.replace("\r", "")
    return mask_urls_in(clean_text(text, keep_newlines=lines, limit=limit))


def read_envelope(text: str) -> tuple[dict, list[Report]]:
    """The agent's envelope: (its header fields, its reports). Raises :class:`RemoteDataError`."""
    if len(text) > MAX_ENVELOPE:
        raise RemoteDataError(f"the remote report is larger than {MAX_ENVELOPE // (1024 * 1024)} MiB")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RemoteDataError(f"the remote report is not JSON ({clean(exc, 120)})") from None
    if not isinstance(document, dict) or document.get("envelope") != "portdoctor/remote/v1":
        raise RemoteDataError("the remote output is not a portdoctor remote report")
    reports_in = document.get("reports")
    if not isinstance(reports_in, list) or not reports_in or len(reports_in) > MAX_ITEMS:
        raise RemoteDataError("the remote report holds no reports (or too many)")
    header = {
        "version": clean(document.get("version"), 40),
        "python": clean(document.get("python"), 40),
        "notes": [clean(n, 400) for n in _list(document.get("notes"))],
    }
    return header, [report_from_dict(r) for r in reports_in]


def _list(value: Any) -> list:
    return value[:MAX_ITEMS] if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _int(value: Any, low: int | None = None, high: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


E = TypeVar("E", bound=Enum)


def _enum(cls: type[E], value: Any, default: E) -> E:
    """``cls(value)``, or ``default`` for a value the remote side should not have sent."""
    try:
        return cls(value)
    except ValueError:
        return default


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0.0
    return float(min(max(value, 0.0), 1e9))


def _opt(value: Any, limit: int = MAX_TEXT) -> str | None:
    return None if value is None else clean(value, limit)


def _evidence(value: Any) -> dict:
    """A finding's evidence: JSON data only, every string cleaned; dropped when larger than 16 KiB."""
    from portdoctor.sanitize import clean_mapping

    if not isinstance(value, dict):
        return {}
    try:
        if len(json.dumps(value)) > MAX_EVIDENCE:
            return {"dropped": "the remote evidence was larger than 16 KiB"}
    except (TypeError, ValueError, RecursionError):
        return {}
    cleaned = clean_mapping(value)
    return {clean(k, 100): v for k, v in cleaned.items()} if isinstance(cleaned, dict) else {}


def _masked_command(value: Any) -> str | None:
    from portdoctor.masking import mask_command_line

    return None if value is None else mask_command_line(clean(value, 500))


def _cause(value: Any) -> str | None:
    if value is None:
        return None
    name = str(value)
    return name if name in CAUSES else "unknown"


def report_from_dict(d: Any) -> Report:
    """One report from the remote JSON, every field checked and cleaned."""
    if not isinstance(d, dict):
        raise RemoteDataError("a remote report is not an object")
    t = _dict(d.get("target"))
    target = _target(t)
    host = _host(_dict(d.get("host")))
    probes = [_probe(_dict(p)) for p in _list(d.get("probes"))]
    listeners = [s for s in (_listener(_dict(s)) for s in _list(d.get("listeners"))) if s is not None]
    findings = [_finding(_dict(f)) for f in _list(d.get("findings"))]
    verdict = _verdict(_dict(d.get("verdict")))
    return Report(
        tool_version=clean(_dict(d.get("tool")).get("version"), 40),
        created=_created(d.get("created")),
        host=host, target=target,
        addresses=[clean(a, 100) for a in _list(t.get("addresses"))],
        probes=probes, listeners=listeners, findings=findings, verdict=verdict,
        duration_ms=_float(d.get("duration_ms")),
        notes=[clean(n, 500) for n in _list(d.get("notes"))],
    )


def _target(t: dict) -> Target:
    """The report's target; a report without a valid port is refused."""
    port = _int(t.get("port"), 1, 65535)
    if port is None:
        raise RemoteDataError("a remote report has no valid target port")
    protocol = "udp" if t.get("protocol") == "udp" else "tcp"
    return Target(input=clean(t.get("input"), 300), host=clean(t.get("host"), 300) or "?", port=port,
                  protocol=protocol, scheme=_opt(t.get("scheme"), 40))


def _host(h: dict) -> HostInfo:
    return HostInfo(clean(h.get("hostname"), 255), clean(h.get("os"), 200), h.get("privileged") is True)


def _probe(p: dict) -> Probe:
    return Probe(clean(p.get("address"), 100), _enum(Outcome, p.get("outcome"), Outcome.ERROR), _float(p.get("ms")),
                 _int(p.get("errno"), 0, 10000), _opt(p.get("error"), 300))


def _listener(s: dict) -> Socket | None:
    """A listener of the remote host; None (left out) without a valid port."""
    sport = _int(s.get("port"), 0, 65535)
    if sport is None:
        return None
    return Socket(
        protocol="udp" if s.get("protocol") == "udp" else "tcp",
        family=6 if s.get("family") == 6 else 4,
        address=clean(s.get("address"), 100), port=sport, state=clean(s.get("state") or "LISTEN", 20),
        uid=_int(s.get("uid"), 0), pid=_int(s.get("pid"), 0), process=_opt(s.get("process"), 100),
        user=_opt(s.get("user"), 100), cmdline=_masked_command(s.get("cmdline")), namespace=_opt(s.get("namespace"), 200),
        container=_opt(s.get("container"), 200),
        v6only=s.get("v6only") if isinstance(s.get("v6only"), bool) else None,
        recv_queue=_int(s.get("recv_queue"), 0), send_queue=_int(s.get("send_queue"), 0))


def _remediation(r: dict) -> Remediation:
    return Remediation(clean(r.get("text"), 500), _opt(r.get("command"), 500))


def _finding(f: dict) -> Finding:
    status = _enum(Status, f.get("status"), Status.ERROR)
    remediation = [_remediation(_dict(r)) for r in _list(f.get("remediation"))[:10]]
    return Finding(clean(f.get("check"), 60), status, clean(f.get("title"), 500), _cause(f.get("cause")),
                   clean(f.get("detail"), MAX_DETAIL, lines=True), remediation, _evidence(f.get("evidence")),
                   _float(f.get("ms")))


def _verdict(v: dict) -> Verdict:
    step = _dict(v.get("first_step")) if v.get("first_step") else None
    return Verdict(
        reachable=v.get("reachable") is True,
        cause=_cause(v.get("cause")) or "unknown",
        summary=clean(v.get("summary"), 1000),
        check=_opt(v.get("check"), 60),
        first_step=_remediation(step) if step else None,
        also=[(_cause(_dict(a).get("cause")) or "unknown", clean(_dict(a).get("title"), 500))
              for a in _list(v.get("also"))[:10]],
    )


def _created(value: Any) -> str:
    """The remote report's creation time as it said it (UTC, ISO 8601), or now when it said something else."""
    created = clean(value, 40)
    if not _CREATED.match(created):
        from datetime import datetime, timezone

        created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return created
