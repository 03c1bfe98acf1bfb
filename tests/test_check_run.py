"""In-process checks run one after another in one thread, each phase within its deadline
(portdoctor.pipeline._CheckRun): an overrun or a crash becomes an ``error`` finding for
that check, the checks after it still run, in order, and nothing the abandoned thread
does later reaches the report or the event listener."""

from __future__ import annotations

import threading

from portdoctor.api import Check, Options
from portdoctor.events import CheckFinished, CheckStarted
from portdoctor.facts import Snapshot
from portdoctor.model import Status
from portdoctor.pipeline import diagnose
from portdoctor.plugins import LoadedCheck
from portdoctor.target import parse_target

RELEASE = threading.Event()  # set at the end of each test: the abandoned threads finish


class Passing(Check):
    name, title = "passing", "Passes"

    def run(self, ctx):
        earlier = [f.check for f in ctx.findings]
        return self.passed(f"saw {earlier}")


class HangsInRun(Check):
    name, title, timeout = "hangs-in-run", "Hangs in run()", 0.2

    def run(self, ctx):
        RELEASE.wait(30)
        return self.failed("late", cause="firewall", how="never shown")


class HangsInApplies(Check):
    name, title, timeout = "hangs-in-applies", "Hangs in applies()", 0.2

    def applies(self, ctx):
        RELEASE.wait(30)
        return True

    def run(self, ctx):
        return self.failed("late", cause="firewall", how="never shown")


class Exits(Check):
    name, title = "exits", "Calls sys.exit()"

    def run(self, ctx):
        raise SystemExit(3)


class DoesNotApply(Check):
    name, title = "does-not-apply", "Never applies"

    def applies(self, ctx):
        return False

    def run(self, ctx):
        raise AssertionError("run() of a check that does not apply")


def _diagnose(*checks: Check, events: list | None = None):
    loaded = [LoadedCheck(c, "built-in", type(c).__name__) for c in checks]
    try:
        return diagnose(parse_target("127.0.0.1:1"), loaded, Options(timeout=0.5),
                        on_event=events.append if events is not None else None,
                        gather_facts=lambda port, protocol: Snapshot(port=port, protocol=protocol))
    finally:
        RELEASE.set()


def _by_check(report):
    return {f.check: f for f in report.findings}


def setup_function():
    RELEASE.clear()


def test_a_run_that_overruns_is_an_error_and_the_next_checks_still_run():
    report = _diagnose(Passing(), HangsInRun(), type("After", (Passing,), {"name": "after"})())
    found = _by_check(report)
    assert [f.check for f in report.findings] == ["passing", "hangs-in-run", "after"]
    assert found["hangs-in-run"].status is Status.ERROR
    assert "check hangs-in-run did not finish within 0.2 s; the check was abandoned." in found["hangs-in-run"].detail
    assert found["after"].title == "saw ['passing', 'hangs-in-run']"  # later checks see the error finding


def test_an_applies_that_overruns_is_an_error_and_the_next_checks_still_run():
    report = _diagnose(HangsInApplies(), Passing())
    found = _by_check(report)
    assert found["hangs-in-applies"].status is Status.ERROR
    assert found["hangs-in-applies"].detail == ("applies() raised Overrun: hangs-in-applies.applies() "
                                                "did not finish within 0.2 s")
    assert found["passing"].status is Status.PASS


def test_the_abandoned_thread_adds_nothing_when_it_ends_later():
    events: list = []
    report = _diagnose(HangsInRun(), Passing(), events=events)
    RELEASE.set()  # the hung run() returns its FAIL finding now, in its own thread
    threading.Event().wait(0.3)
    assert [f.status for f in report.findings] == [Status.ERROR, Status.PASS]
    assert report.verdict.cause != "firewall"
    started = [e.name for e in events if isinstance(e, CheckStarted)]
    finished = [[f.status for f in e.findings] for e in events if isinstance(e, CheckFinished)]
    assert started == ["hangs-in-run", "passing"]
    assert finished == [[Status.ERROR], [Status.PASS]]


def test_sys_exit_in_a_check_is_an_error_not_the_end_of_the_run():
    report = _diagnose(Exits(), DoesNotApply(), Passing())
    found = _by_check(report)
    assert found["exits"].status is Status.ERROR
    assert "The check crashed: Aborted: raised SystemExit(3)" in found["exits"].detail
    assert "does-not-apply" not in found and found["passing"].status is Status.PASS


def test_an_event_listener_that_raises_stops_the_diagnosis_as_before():
    """The listener's error is the caller's: it comes out of diagnose(), not as a check overrun."""
    import pytest

    def listener(event):
        if isinstance(event, CheckStarted):
            raise RuntimeError("the wizard went away")

    loaded = [LoadedCheck(Passing(), "built-in", "Passing")]
    with pytest.raises(RuntimeError, match="the wizard went away"):
        diagnose(parse_target("127.0.0.1:1"), loaded, Options(timeout=0.5), on_event=listener,
                 gather_facts=lambda port, protocol: Snapshot(port=port, protocol=protocol))
