"""backlog-full on fixture snapshots, and the /proc/net/netstat counter parser."""

from portdoctor.checks.backlog import BacklogCheck, at_limit
from portdoctor.facts.netstat import ListenCounters, delta, parse_netstat
from portdoctor.model import Status
from portdoctor.testing import context, sock

NETSTAT = """TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits
TcpExt: 0 7 9 120
IpExt: InNoRoutes InTruncatedPkts
IpExt: 0 0
"""


def run(ctx):
    return BacklogCheck().run(ctx)


def test_parse_netstat_reads_listen_counters():
    assert parse_netstat(NETSTAT) == ListenCounters(overflows=7, drops=9)
    assert parse_netstat("IpExt: a\nIpExt: 1\n") is None


def test_delta_counts_what_happened_between_readings():
    d = delta(ListenCounters(7, 9), ListenCounters(10, 12))
    assert (d.overflows, d.drops) == (3, 3)
    assert delta(None, ListenCounters(1, 1)) is None


def test_full_queue_and_timeout_is_backlog_full():
    ctx = context("127.0.0.1:8080", "timeout",
                  sockets=[sock("127.0.0.1", 8080, recv_queue=2, send_queue=1, pid=42, process="gunicorn")])
    ctx.facts.extras["listen_counters"] = delta(ListenCounters(0, 0), ListenCounters(2, 2))
    f = run(ctx)
    assert f.status is Status.FAIL and f.cause == "backlog-full"
    assert "gunicorn (pid 42)" in f.title
    assert "py-spy dump --pid 42" in [s.command for s in f.remediation]
    assert f.evidence["listen_overflows_during_probes"] == 2


def test_overflow_counter_alone_with_timeout_is_backlog_full_but_says_namespace_wide():
    ctx = context("127.0.0.1:8080", "timeout", sockets=[sock("0.0.0.0", 8080)])
    ctx.facts.extras["listen_counters"] = delta(ListenCounters(5, 5), ListenCounters(7, 7))
    f = run(ctx)
    assert f.cause == "backlog-full" and "per network namespace" in f.detail


def test_full_queue_but_probe_got_in_is_a_warning():
    ctx = context("127.0.0.1:8080", "open", sockets=[sock("127.0.0.1", 8080, recv_queue=128, send_queue=128)])
    f = run(ctx)
    assert f.status is Status.WARN and f.cause == "backlog-full"


def test_queue_with_room_passes():
    ctx = context("127.0.0.1:8080", "open", sockets=[sock("127.0.0.1", 8080, recv_queue=0, send_queue=4096)])
    assert run(ctx).status is Status.PASS


def test_timeout_without_queue_evidence_is_not_backlog():
    # A DROP rule also times out: without a full queue or overflows, no backlog-full.
    ctx = context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080, recv_queue=0, send_queue=128)])
    ctx.facts.extras["listen_counters"] = delta(ListenCounters(0, 0), ListenCounters(0, 0))
    assert run(ctx).status is Status.PASS


def test_unknown_queue_lengths_skip_with_how():
    ctx = context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.1", 8080)])
    f = run(ctx)
    assert f.status is Status.SKIP and f.remediation[0].command == "ss -ltn 'sport = :8080'"


def test_listener_on_another_address_is_not_judged():
    ctx = context("127.0.0.1:8080", "timeout", sockets=[sock("127.0.0.2", 8080, recv_queue=9, send_queue=1)])
    assert run(ctx).status is Status.PASS


def test_remote_target_does_not_apply():
    ctx = context("198.51.100.7:8080", "timeout")
    assert not BacklogCheck().applies(ctx)


def test_at_limit():
    assert at_limit(sock("0.0.0.0", 80, recv_queue=1, send_queue=0))  # listen(0) still queues one
    assert not at_limit(sock("0.0.0.0", 80, recv_queue=0, send_queue=0))
