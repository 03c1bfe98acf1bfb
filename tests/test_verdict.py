"""The verdict: decide_verdict + causes.RANK over the findings of a diagnosis."""

from portdoctor.causes import CAUSES, RANK, rank
from portdoctor.checks.port_owner import PortOwnerCheck
from portdoctor.checks.service_running import ServiceRunningCheck
from portdoctor.checks.wrong_interface import WrongInterfaceCheck
from portdoctor.model import Finding, Remediation, Status
from portdoctor.pipeline import decide_verdict
from portdoctor.testing import context, sock


def finding(check, status, cause=None, title="", steps=()):
    return Finding(check, Status(status), title or f"{check} {status}", cause, "", [Remediation(*s) for s in steps])


def verdict_for(ctx, *findings):
    ctx.findings = list(findings)
    return decide_verdict(ctx)


def test_rank_names_every_cause_but_ok_once():
    assert sorted(RANK) == sorted(set(CAUSES) - {"ok"})
    assert rank("no-such-cause") == len(RANK)


def test_several_failures_the_most_direct_wins():
    ctx = context("127.0.0.1:8080", "refused")
    v = verdict_for(ctx,
                    finding("service-running", "fail", "not-listening"),
                    finding("firewall", "fail", "firewall", "Firewall rule rejects", [("Delete it", "nft delete ...")]),
                    finding("wrong-interface", "fail", "wrong-interface"))
    assert (v.cause, v.check, v.reachable) == ("firewall", "firewall", False)
    assert v.summary == "Firewall rule rejects"
    assert v.first_step == Remediation("Delete it", "nft delete ...")


def test_findings_order_does_not_matter():
    a = finding("a", "fail", "not-listening")
    b = finding("b", "fail", "dns")
    assert verdict_for(context("x.test:1", "refused"), a, b).cause == "dns"
    assert verdict_for(context("x.test:1", "refused"), b, a).cause == "dns"


def test_warnings_only_and_failed_connection_take_the_warning_as_the_lead():
    ctx = context("127.0.0.1:8080", "timeout")
    v = verdict_for(ctx, finding("service-running", "pass"),
                    finding("firewall", "warn", "firewall", "A rule may drop"),
                    finding("other", "warn", None, "no cause"))
    assert (v.cause, v.check) == ("firewall", "firewall")


def test_warnings_only_and_reachable_is_ok():
    ctx = context("127.0.0.1:8080", "open")
    v = verdict_for(ctx, finding("firewall", "warn", "firewall"), finding("x", "skip"))
    assert (v.cause, v.reachable) == ("ok", True)


def test_reachable_with_a_failure_is_that_failure():
    ctx = context("127.0.0.1:8080", "open")
    v = verdict_for(ctx, finding("service-running", "pass"),
                    finding("port-owner", "fail", "port-in-use", "held by fakeredis"))
    assert (v.cause, v.reachable, v.check) == ("port-in-use", True, "port-owner")


def test_nothing_explains_it_is_unknown():
    ctx = context("127.0.0.1:8080", "timeout")
    v = verdict_for(ctx, finding("a", "pass"), finding("b", "skip"), finding("c", "error"))
    assert v.cause == "unknown" and "127.0.0.1 timeout" in v.summary and not v.reachable


def test_expect_with_a_stranger_on_another_address_is_neither_a_kill_nor_a_redirect():
    # --expect nginx, but fakeredis holds the port on 127.0.0.2 only: 127.0.0.1 is free to bind
    # (no port-in-use, no kill), and "connect to 127.0.0.2:8080" would reach fakeredis.
    ctx = context("127.0.0.1:8080", "refused", expect="nginx",
                  sockets=[sock("127.0.0.2", 8080, pid=9, process="fakeredis")])
    findings = [ServiceRunningCheck().run(ctx), PortOwnerCheck().run(ctx), WrongInterfaceCheck().run(ctx)]
    assert [f.cause for f in findings] == [None, None, "not-listening"]
    verdict = verdict_for(ctx, *findings)
    assert verdict.cause == "not-listening"
    assert verdict.first_step.text.startswith("Start nginx on 127.0.0.1:8080")


def test_expect_with_a_stranger_on_the_wildcard_is_port_in_use():
    ctx = context("127.0.0.1:8080", "refused", expect="nginx",
                  sockets=[sock("0.0.0.0", 8080, pid=9, process="fakeredis")])
    assert PortOwnerCheck().run(ctx).cause == "port-in-use"


def test_port_in_use_outranks_firewall():
    ctx = context("127.0.0.1:8080", "refused")
    v = verdict_for(ctx, finding("firewall", "fail", "firewall"), finding("port-owner", "fail", "port-in-use"))
    assert v.cause == "port-in-use"


def test_resolution_failure_outranks_everything():
    ctx = context("nosuch.invalid:80", resolve_error="Name or service not known")
    v = verdict_for(ctx, finding("resolution", "fail", "dns"), finding("service-running", "fail", "not-listening"))
    assert (v.cause, v.reachable) == ("dns", False)


def test_also_lists_the_other_failing_causes_once_most_direct_first():
    """A REJECT rule on a port nothing listens on: removing the rule alone will not do."""
    ctx = context("127.0.0.1:8080", "refused")
    v = verdict_for(ctx,
                    finding("service-running", "fail", "not-listening", "Nothing is listening"),
                    finding("well-known-service", "warn", "not-listening", "Usually Tomcat"),
                    finding("firewall", "fail", "firewall", "Firewall rule rejects"),
                    finding("other", "fail", "not-listening", "Nothing, again"))
    assert v.cause == "firewall"
    assert v.also == [("not-listening", "Nothing is listening")]
    assert v.to_dict()["also"] == [{"cause": "not-listening", "title": "Nothing is listening"}]


def test_a_dead_proxy_outranks_local_dns_for_a_proxied_request():
    v = verdict_for(context("x.test:1", "refused"),
                    finding("resolution", "fail", "dns"), finding("proxy", "fail", "proxy"))
    assert v.cause == "proxy" and v.also == [("dns", "resolution fail")]


def test_ok_wording_fits_the_protocol():
    assert "accepted a connection" in verdict_for(context("127.0.0.1:8080", "open")).summary
    assert "answered a datagram" in verdict_for(context("udp://127.0.0.1:53", "open")).summary
