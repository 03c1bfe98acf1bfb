"""When the name does not resolve: the dns verdict, and no check reasoning about no address."""

import socket

import pytest

from portdoctor import pipeline
from portdoctor.api import Options
from portdoctor.checks.resolution import ResolutionCheck
from portdoctor.facts import Snapshot
from portdoctor.model import Status
from portdoctor.plugins import discover
from portdoctor.resolve import NO_ADDRESS, NO_SUCH_NAME, RESOLVER_FAILED, ResolveError, resolve
from portdoctor.target import parse_target
from portdoctor.testing import context


def test_checks_that_need_an_address_are_skipped_with_the_reason(monkeypatch):
    monkeypatch.setattr(pipeline, "resolve",
                        lambda *a, **k: ([], ResolveError("'db' does not resolve: Temporary failure", RESOLVER_FAILED)))
    checks, _ = discover(include_user_dir=False)
    report = pipeline.diagnose(parse_target("postgres://db:5432/app"), checks, Options(timeout=0.5),
                               gather_facts=lambda port, proto: Snapshot(port=port, protocol=proto))
    by_check = {f.check: f for f in report.findings}
    assert report.verdict.cause == "dns" and not report.verdict.reachable
    assert "resolver did not answer" in by_check["resolution"].title
    for name in ("service-running", "firewall", "port-owner", "wrong-interface"):
        assert by_check[name].status is Status.SKIP, by_check[name]
        assert "did not resolve" in by_check[name].title
    assert not any(f.status is Status.PASS and "Connected" in f.title for f in report.findings)


@pytest.mark.parametrize("kind, words, first_command", [
    (RESOLVER_FAILED, "resolver did not answer", "cat /etc/resolv.conf"),
    (NO_SUCH_NAME, "does not resolve to any address", "getent ahosts db"),
    (NO_ADDRESS, "has no IPv4 or IPv6 address", "getent ahosts db"),
])
def test_the_resolution_check_tells_the_failures_apart(kind, words, first_command):
    ctx = context("db:5432", resolve_error=ResolveError("'db' does not resolve", kind))
    f = ResolutionCheck().run(ctx)
    assert f.status is Status.FAIL and f.cause == "dns" and words in f.title
    assert next(step.command for step in f.remediation if step.command) == first_command


def test_resolve_sorts_gaierror_codes_into_kinds(monkeypatch):
    def fails(code):
        def getaddrinfo(*a, **k):
            raise socket.gaierror(code, "x")
        return getaddrinfo

    for code, kind in ((socket.EAI_NONAME, NO_SUCH_NAME), (socket.EAI_AGAIN, RESOLVER_FAILED)):
        monkeypatch.setattr(socket, "getaddrinfo", fails(code))
        addresses, error = resolve("db", 5432)
        assert addresses == [] and error.kind == kind
