"""The JUnit XML report, in the xunit2 shape pytest writes (read by GitLab, Jenkins, ...).

One ``<testsuite>`` per target, one ``<testcase>`` per check finding, plus one
``verdict`` case so that the XML fails exactly when portdoctor's exit code does.
``classname`` is ``portdoctor.checks.<check>``; ``name`` carries the target
(``service-running[db:5432]``) so names are unique across targets.
fail → ``<failure>``, error → ``<error>``, skip → ``<skipped message=reason>``;
detail and remediation go in the element's body.

The XML is written by hand rather than with ElementTree for two reasons: characters
XML 1.0 forbids (process names can hold any byte) are stripped, and line breaks in
text are written as ``&#10;`` so that every line of the document starts with ``<``:
no untrusted text can start a line (which is what CI log parsers act on).
"""

from __future__ import annotations

from portdoctor.lazyre import lazy
from portdoctor.model import Finding, Report, Status

# Everything XML 1.0 does not allow in a document (it allows tab, LF, CR and most of Unicode).
_FORBIDDEN = lazy("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    """Character data or an attribute value: forbidden characters stripped, markup escaped."""
    s = _FORBIDDEN.sub("", "" if text is None else str(text))
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))


def _attrs(**attrs: object) -> str:
    return "".join(f' {k.rstrip("_")}="{xml_text(v)}"' for k, v in attrs.items() if v is not None)


def _body(f: Finding) -> str:
    lines = [f.title]
    if f.cause:
        lines.append(f"cause: {f.cause} (portdoctor explain {f.cause})")
    if f.detail:
        lines += ["", f.detail]
    for fix in f.remediation:
        lines.append(f"fix: {fix.text}")
        if fix.command:
            lines.append(f"  $ {fix.command}")
    return "\n".join(lines)


def _case_name(check: str, target: str, seen: dict[str, int]) -> str:
    base = f"{check}[{target}]"
    seen[base] = seen.get(base, 0) + 1
    return base if seen[base] == 1 else f"{base}#{seen[base]}"


def _testcase(f: Finding, target: str, seen: dict[str, int]) -> str:
    head = f"<testcase{_attrs(classname=f'portdoctor.checks.{f.check}', name=_case_name(f.check, target, seen), time=f'{f.ms / 1000:.3f}')}"
    body = _body(f)
    if f.status is Status.FAIL:
        inner = f"<failure{_attrs(message=f.title, type=f.cause or 'fail')}>{xml_text(body)}</failure>"
    elif f.status is Status.ERROR:
        inner = f"<error{_attrs(message=f.title, type='check-error')}>{xml_text(body)}</error>"
    elif f.status is Status.SKIP:
        inner = f"<skipped{_attrs(message=f.title, type='portdoctor.skip')}>{xml_text(body)}</skipped>"
    elif f.status is Status.WARN:
        inner = f"<system-out>{xml_text('warning: ' + body)}</system-out>"
    else:
        inner = ""
    return f"    {head}>{inner}</testcase>" if inner else f"    {head}/>"


def _verdict_case(r: Report, target: str, seen: dict[str, int]) -> str:
    v = r.verdict
    head = f"<testcase{_attrs(classname='portdoctor.verdict', name=_case_name('verdict', target, seen), time=f'{r.duration_ms / 1000:.3f}')}"
    if not r.failed:
        return f"    {head}/>"
    lines = [v.summary, f"cause: {v.cause} (portdoctor explain {v.cause})"]
    if v.first_step:
        lines.append(f"do now: {v.first_step.text}")
        if v.first_step.command:
            lines.append(f"  $ {v.first_step.command}")
    return f"    {head}><failure{_attrs(message=v.summary, type=v.cause)}>{xml_text(chr(10).join(lines))}</failure></testcase>"


def _host_suite(host: str, reports: list[Report]) -> tuple[str, dict[str, int]]:
    """--ssh/--from over many hosts: one suite per host, its targets' cases inside."""
    seen: dict[str, int] = {}
    cases: list[str] = []
    for r in reports:
        cases += [_testcase(f, r.target.input, seen) for f in r.findings] + [_verdict_case(r, r.target.input, seen)]
    n = _counts(reports)
    seconds = f"{sum(r.duration_ms for r in reports) / 1000:.3f}"
    first = reports[0]
    props = [("ssh", host), ("hostname", first.host.hostname), ("targets", " ".join(r.target.input for r in reports)),
             ("causes", " ".join(r.verdict.cause for r in reports))]
    lines = [f"  <testsuite{_attrs(name=f'portdoctor on {host}', errors=n['errors'], failures=n['failures'], skipped=n['skipped'], tests=n['tests'], time=seconds, timestamp=first.created, hostname=first.host.hostname)}>",
             "    <properties>"]
    lines += [f"      <property{_attrs(name=k, value=v)}/>" for k, v in props]
    lines += ["    </properties>", *cases, "  </testsuite>"]
    return "\n".join(lines), n


def _counts(reports: list[Report]) -> dict[str, int]:
    return {
        "tests": sum(len(r.findings) + 1 for r in reports),
        "failures": sum(sum(f.status is Status.FAIL for f in r.findings) + (1 if r.failed else 0) for r in reports),
        "errors": sum(sum(f.status is Status.ERROR for f in r.findings) for r in reports),
        "skipped": sum(sum(f.status is Status.SKIP for f in r.findings) for r in reports),
    }


def _suite(r: Report) -> tuple[str, dict[str, int]]:
    target = r.target.input
    seen: dict[str, int] = {}
    cases = [_testcase(f, target, seen) for f in r.findings] + [_verdict_case(r, target, seen)]
    n = _counts([r])
    props = [("target", r.target.input), ("host", r.target.host), ("port", r.target.port),
             ("protocol", r.target.protocol), ("addresses", " ".join(r.addresses)),
             ("reachable", str(r.verdict.reachable).lower()), ("cause", r.verdict.cause)]
    lines = [f"  <testsuite{_attrs(name=f'portdoctor {target}', errors=n['errors'], failures=n['failures'], skipped=n['skipped'], tests=n['tests'], time=f'{r.duration_ms / 1000:.3f}', timestamp=r.created, hostname=r.host.hostname)}>",
             "    <properties>"]
    lines += [f"      <property{_attrs(name=k, value=v)}/>" for k, v in props]
    lines.append("    </properties>")
    lines += cases
    lines.append("  </testsuite>")
    return "\n".join(lines), n


def render_junit(reports: list[Report]) -> str:
    if any(r.ssh for r in reports):
        hosts: dict[str, list[Report]] = {}
        for r in reports:
            hosts.setdefault(r.ssh or "(here)", []).append(r)
        suites = [_host_suite(host, rs) for host, rs in hosts.items()]
    else:
        suites = [_suite(r) for r in reports]
    total = {k: sum(n[k] for _, n in suites) for k in ("tests", "failures", "errors", "skipped")}
    seconds = sum(r.duration_ms for r in reports) / 1000
    head = f"<testsuites{_attrs(name='portdoctor', tests=total['tests'], failures=total['failures'], errors=total['errors'], skipped=total['skipped'], time=f'{seconds:.3f}')}>"
    return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', head] + [s for s, _ in suites] + ["</testsuites>"]) + "\n"
