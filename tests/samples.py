"""A sample report with every part, for renderer, CI and schema tests.

:func:`make_report` builds a report with listeners (one with a hidden owner, one in a
container), each finding status, remediation commands, a plugin error note; ``HOSTILE``
is a process name that tries to act as a workflow command, colour a terminal and break
Markdown. Built directly on the report model; a check's tests use :mod:`portdoctor.testing`.
"""

from __future__ import annotations

from portdoctor.model import Finding, HostInfo, Outcome, Probe, Remediation, Report, Socket, Status, Verdict
from portdoctor.target import parse_target

HOSTILE = "::error::pwn\x1b[31m<b>|`"


def make_report(target: str = "127.0.0.1:5432", *, failed: bool = True, process: str = "postgres",
                cmdline: str | None = None, extra_findings: list[Finding] = ()) -> Report:
    t = parse_target(target)
    listeners = [
        Socket("tcp", 4, "127.0.0.2", t.port, "LISTEN", uid=999, pid=812, process=process, user="postgres",
               cmdline=cmdline),
        Socket("tcp", 6, "::", t.port, "LISTEN", uid=0),  # owner hidden: not root
        Socket("udp", 4, "0.0.0.0", t.port, "UNCONN", pid=77, process="dnsmasq", user="nobody",
               namespace="netns:4026532481", container="docker:3f2a"),
    ]
    findings = [
        Finding("resolution", Status.PASS, "127.0.0.1 is an address; nothing to resolve."),
        Finding("firewall", Status.SKIP, "Cannot read the rules without root.",
                remediation=[Remediation("Run again with sudo.", "sudo portdoctor --report 127.0.0.1:5432")]),
        Finding("proxy", Status.WARN, "http_proxy is set without no_proxy for 127.0.0.1.", "proxy",
                "HTTP clients may send this traffic to the proxy.",
                [Remediation("Exclude the target.", "export no_proxy=127.0.0.1")]),
        Finding("broken-plugin", Status.ERROR, "broken-plugin: the check failed to run", None,
                "The check crashed: ZeroDivisionError: division by zero"),
    ]
    if failed:
        findings.insert(1, Finding(
            "wrong-interface", Status.FAIL, f"{process} listens on 127.0.0.2, not 127.0.0.1.", "wrong-interface",
            f"The process {process} (pid 812) bound 127.0.0.2:{t.port}.\nConnections to 127.0.0.1 are refused.",
            [Remediation("Make the service listen on 127.0.0.1 (or 0.0.0.0).",
                         "sudo sed -i \"s/^listen_addresses.*/listen_addresses = '*'/\" /etc/postgresql/postgresql.conf"),
             Remediation("Or connect to the address it listens on.", f"portdoctor 127.0.0.2:{t.port}")]))
    findings.extend(extra_findings)
    for i, f in enumerate(findings):
        f.ms = 1.5 + i
    first = findings[1].remediation[0] if failed else None
    verdict = (Verdict(False, "wrong-interface", findings[1].title, "wrong-interface", first) if failed
               else Verdict(True, "ok", f"{t.display} accepted a connection on every address (127.0.0.1)."))
    probes = [Probe("127.0.0.1", Outcome.REFUSED if failed else Outcome.OPEN, 0.4, 111 if failed else None,
                    "Connection refused" if failed else None)]
    return Report("0.1.0", "2025-01-02T03:04:05Z", HostInfo("testhost", "Linux 6.1", False), t, ["127.0.0.1"],
                  probes, listeners, findings, verdict, 42.0, notes=["plugin x.py: SyntaxError: invalid syntax"])
