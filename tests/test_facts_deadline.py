"""Reading the machine is bounded by the clock (issue 9, items 5 and 8): a fact source
that never answers is a note naming what was not read, never a cause, and the run
still ends with a verdict.

The slow source is real: a FIFO bind-mounted over a /proc file in the lab's private
mount namespace, so reading it blocks forever, as a /proc read behind a hung FUSE or
lxcfs mount does.
"""

from __future__ import annotations

import shlex
import threading
import time

import pytest

PORT = 8300


def hang_proc_file(path: str) -> str:
    """A setup line: a FIFO nobody writes to, bind-mounted over ``path`` (a shell word)."""
    return f'F=$(mktemp -u); mkfifo "$F"; mount --bind "$F" {path}; rm "$F"'


# A listener started by the setup itself, so that its pid is known to the mount line.
LISTEN = f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {PORT})); s.listen(); time.sleep(120)"
HUNG_OWNER = "sh -c " + shlex.quote(
    f"python3 -c {shlex.quote(LISTEN)} >/dev/null 2>&1 & P=$!; "
    f"for i in $(seq 100); do ss -Hltn 'sport = :{PORT}' | grep -q . && break; sleep 0.05; done; "
    + hang_proc_file("/proc/$P/cmdline"))


@pytest.mark.lab
def test_a_hung_proc_read_of_the_owner_ends_in_a_verdict_with_what_was_not_read(lab):
    r = lab.run([f"127.0.0.1:{PORT}"], setup=[HUNG_OWNER], timeout=45)
    assert r.returncode != -9, f"the run did not end: {r.stderr}"
    doc = r.json
    assert r.returncode == 0 and doc["verdict"]["cause"] == "ok", (r.returncode, doc["verdict"], r.setup_log)
    notes = "\n".join(doc["notes"])
    assert "sockets: not read: still reading it when the 8 s deadline" in notes, notes
    assert "firewall: not read" in notes and "nat: not read" in notes, notes
    assert all(f["status"] != "fail" for f in doc["findings"]), doc["findings"]


@pytest.mark.lab
def test_a_hung_lazy_fact_is_a_note_and_the_checks_still_decide(lab):
    # /proc/1/comm (what runs as PID 1: systemd advice) never answers; nothing listens.
    r = lab.run([f"127.0.0.1:{PORT}"], setup=[hang_proc_file("/proc/1/comm")], timeout=45)
    assert r.returncode != -9, f"the run did not end: {r.stderr}"
    doc = r.json
    assert r.returncode == 1 and doc["verdict"]["cause"] == "not-listening", (doc["verdict"], doc["findings"])
    assert any(n.startswith("init_process: not read: still reading after") for n in doc["notes"]), doc["notes"]
    assert all(f["status"] != "error" for f in doc["findings"]), [f for f in doc["findings"] if f["status"] == "error"]


UNIX_LISTEN = ("import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('/mnt/app.sock'); s.listen(); "
               "time.sleep(120)")
HUNG_UNIX_OWNER = "sh -c " + shlex.quote(
    f"python3 -c {shlex.quote(UNIX_LISTEN)} >/dev/null 2>&1 & P=$!; "
    "for i in $(seq 100); do [ -S /mnt/app.sock ] && break; sleep 0.05; done; "
    + hang_proc_file("/proc/$P/cmdline"))


@pytest.mark.lab
def test_a_unix_socket_whose_owner_cannot_be_read_ends_in_a_verdict(lab):
    setup = ["mount -t tmpfs -o mode=755 none /mnt", HUNG_UNIX_OWNER]
    r = lab.run(["unix:///mnt/app.sock"], setup=setup, timeout=45)
    assert r.returncode != -9, f"the run did not end: {r.stderr}"
    doc = r.json
    assert r.returncode == 0 and doc["verdict"]["cause"] == "ok", (doc["verdict"], r.setup_log)
    assert any(n.startswith("unix: not read: still reading after") for n in doc["notes"]), doc["notes"]
    assert r.finding("unix-socket")["status"] == "skip", r.finding("unix-socket")


# --- the mechanism, on a gatherer that waits for an event -------------------------------


def test_a_lazy_fact_past_one_checks_deadline_is_a_note_then_reaches_a_later_check():
    from portdoctor.facts import Snapshot, within

    release = threading.Event()
    snap = Snapshot(port=1)

    def slow(_snapshot):
        release.wait(10)
        return "answer"

    assert within(time.monotonic() + 0.6, lambda: snap.lazy("slow", slow)) is None  # 0.1 s budget
    assert snap.unread == ["slow"] and snap.visibility["slow"].startswith("not read: still reading after")
    release.set()
    assert within(time.monotonic() + 5, lambda: snap.lazy("slow", slow)) == "answer"
    assert snap.unread == [] and "slow" not in snap.visibility


def test_one_hung_lazy_fact_does_not_hold_up_another():
    from portdoctor.facts import Snapshot, within

    snap = Snapshot(port=1)
    never = threading.Event()
    assert within(time.monotonic() + 0.6, lambda: snap.lazy("hung", lambda s: never.wait(30))) is None
    assert within(time.monotonic() + 0.6, lambda: snap.lazy("quick", lambda s: 42)) == 42


def test_an_abandoned_eager_source_never_changes_the_snapshot_afterwards():
    from portdoctor.facts import Snapshot, _read_sources

    release = threading.Event()

    def late(snapshot):
        release.wait(10)
        snapshot.dnat.append("late")

    snap = _read_sources(Snapshot(port=1), [("interfaces", lambda s: s.environ.update(x="1")), ("nat", late),
                                             ("firewall", lambda s: None)], seconds=0.3)
    assert snap.environ == {"x": "1"} and snap.unread == ["nat", "firewall"], snap.unread
    assert "still reading it when the 0.3 s deadline" in snap.visibility["nat"]
    release.set()
    time.sleep(0.2)
    assert snap.dnat == []
