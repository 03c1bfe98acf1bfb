"""``--wait``: the polling loop (with a fake clock), its progress lines, and real loopback runs."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from portdoctor.cli import main
from portdoctor.target import parse_target
from portdoctor.wait import MAX_INTERVAL, Progress, wait_until_up


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_moment_every_target_is_up():
    clock = FakeClock()
    targets = [parse_target("127.0.0.1:5432"), parse_target("127.0.0.1:6379")]
    up_at = {"127.0.0.1:5432": 2.0, "127.0.0.1:6379": 0.5}
    tries: list[tuple[str, float]] = []

    def try_once(t, timeout):
        tries.append((t.display, timeout))
        clock.now += 0.01  # an attempt takes a little time
        return "up" if clock.now >= up_at[t.display] else "refused"

    result = wait_until_up(targets, 30, 2.0, clock=clock, sleep=clock.sleep, try_once=try_once)
    assert result.ready and 2.0 <= result.elapsed < 3.2
    assert 0.5 <= result.up_after["127.0.0.1:6379"] < 1.5
    # a target that is up is not tried again
    last_6379 = max(i for i, (name, _) in enumerate(tries) if name == "127.0.0.1:6379")
    assert all(name == "127.0.0.1:5432" for name, _ in tries[last_6379 + 1:])
    # short first interval, backing off, never beyond the cap
    assert clock.sleeps[0] == pytest.approx(0.1)
    assert clock.sleeps == sorted(clock.sleeps) and max(clock.sleeps) <= MAX_INTERVAL


def test_gives_up_at_the_deadline_and_bounds_each_attempt():
    clock = FakeClock()
    timeouts: list[float] = []

    def try_once(t, timeout):
        timeouts.append(timeout)
        clock.now += timeout  # a DROP: every attempt runs to its timeout
        return "timeout"

    result = wait_until_up([parse_target("10.0.0.1:80")], 3, 2.0, clock=clock, sleep=clock.sleep, try_once=try_once)
    assert not result.ready and result.states == {"10.0.0.1:80": "timeout"}
    assert 3.0 <= result.elapsed <= 3.0 + 0.05 + 1e-9
    assert max(timeouts) <= 2.0 and all(t >= 0.05 for t in timeouts)


def test_progress_without_a_terminal_is_one_line_per_change():
    stream = io.StringIO()
    p = Progress(stream, live=False)
    p.update({"db:5432": "does not resolve yet"}, 0.1, 30)
    p.update({"db:5432": "does not resolve yet"}, 0.5, 30)
    p.update({"db:5432": "refused"}, 1.0, 30)
    p.update({"db:5432": "refused"}, 1.5, 30)
    p.update({"db:5432": "up"}, 2.0, 30)
    assert stream.getvalue().splitlines() == [
        "portdoctor: waiting for db:5432: does not resolve yet (0.1/30 s)",
        "portdoctor: waiting for db:5432: refused (1.0/30 s)",
        "portdoctor: db:5432 is up after 2.0 s",
    ]


def test_progress_on_a_terminal_is_a_live_line():
    stream = io.StringIO()
    p = Progress(stream, live=True)
    p.update({"db:5432": "refused"}, 1.0, 30)
    p.update({"db:5432": "refused"}, 1.2, 30)
    p.finish("portdoctor: db:5432 is up (after 2.0 s)")
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 3 and text.count("\n") == 1
    assert text.endswith("\r\x1b[Kportdoctor: db:5432 is up (after 2.0 s)\n")


def _listen_later(port: int, delay: float, stop: threading.Event):
    def run():
        time.sleep(delay)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(8)
            stop.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_exits_0_when_the_service_comes_up(free_port, capsys):
    stop = threading.Event()
    _listen_later(free_port, 0.6, stop)
    try:
        start = time.monotonic()
        code = main(["--wait", "10", f"127.0.0.1:{free_port}"])
        elapsed = time.monotonic() - start
    finally:
        stop.set()
    out, err = capsys.readouterr()
    assert code == 0 and out == ""  # quiet: 'portdoctor --wait 30 db:5432 && run-tests'
    assert 0.5 < elapsed < 5
    assert f"portdoctor: waiting for 127.0.0.1:{free_port}: refused" in err
    assert f"portdoctor: 127.0.0.1:{free_port} is up after" in err


def test_wait_that_times_out_diagnoses_and_exits_1(free_port, capsys):
    start = time.monotonic()
    code = main(["--wait", "1", f"127.0.0.1:{free_port}"])
    elapsed = time.monotonic() - start
    out, err = capsys.readouterr()
    assert code == 1
    assert 1.0 <= elapsed < 6
    assert "gave up after 1 s" in err and "diagnosing" in err
    assert "Verdict" in out


def test_wait_with_an_output_file_writes_the_report_when_up(listening_port_free, tmp_path, capsys):
    path = tmp_path / "r.json"
    assert main(["--wait", "5", "-o", str(path), f"127.0.0.1:{listening_port_free}"]) == 0
    assert '"cause": "ok"' in path.read_text()


@pytest.fixture
def listening_port_free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def test_up_by_the_first_address_names_the_clients_that_fail_on_the_others():
    """--wait succeeds by the resolver-order rule; each later address that still fails is one
    warning line (cleaned: a resolver's answer is machine text)."""
    from portdoctor.wait import Up, failing_lines

    clock = FakeClock()
    targets = [parse_target("localhost:8000"), parse_target("db:5432")]
    answers = {"localhost:8000": Up((("127.0.0.1", "refused"),)), "db:5432": Up()}
    result = wait_until_up(targets, 30, 2.0, clock=clock, sleep=clock.sleep, try_once=lambda t, _: answers[t.display])
    assert result.ready and result.states["localhost:8000"] == "up"
    (line,) = failing_lines(result)
    assert line.startswith("portdoctor: warning: localhost:8000 is up on its first address, but 127.0.0.1 is refused")
    assert "Java" in line
    hostile = wait_until_up([parse_target("localhost:8000")], 30, 2.0, clock=clock, sleep=clock.sleep,
                            try_once=lambda t, _: Up((("::2\x1b]52;c;eA==\x07", "refused"),)))
    (line,) = failing_lines(hostile)
    assert "\x1b" not in line and "\x07" not in line and "forced to IPv6" in line
