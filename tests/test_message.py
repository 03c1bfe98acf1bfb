"""Reading clients' error messages: every real message in tests/fixtures/errors yields its target.

Each fixture names the TARGET a user would type for the same endpoint, the address
family, what the client saw (refused, timeout, dns, ...) and, where the client names
it, the address it connected to. Pure parsing: nothing here touches the network.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from portdoctor.exitcodes import UsageError
from portdoctor.message import find_endpoints, read_target, targets_from_text
from portdoctor.target import parse_target

FIXTURES = Path(__file__).parent / "fixtures" / "errors"


def _cases():
    for path in sorted(FIXTURES.glob("*.json")):
        for index, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            yield pytest.param(case, id=f"{path.stem}-{index}")


ALL = list(_cases())


def test_every_client_named_by_the_issue_has_fixtures():
    clients = {p.stem for p in FIXTURES.glob("*.json")}
    assert {"node", "python", "libpq", "go", "curl", "redis", "mysql", "docker", "kubectl", "java", "ruby",
            "php", "dotnet"} <= clients
    for case in ALL:
        assert case.values[0]["source"].strip(), "every message says where its wording comes from"


@pytest.mark.parametrize("case", ALL)
def test_each_message_yields_the_right_target(case):
    expect = case["expect"]
    scan = find_endpoints(case["text"])
    assert len(scan.endpoints) == 1, [e.target_text() for e in scan.endpoints]
    endpoint = scan.endpoints[0]
    assert endpoint.target_text() == expect["target"]
    assert endpoint.family == expect["family"]
    assert endpoint.said == expect["said"]
    if "addresses" in expect:
        assert list(endpoint.addresses) == expect["addresses"]


@pytest.mark.parametrize("case", ALL)
def test_the_message_target_is_the_typed_target(case):
    """Pasting gives the same host, port, protocol and path as typing the address."""
    (pasted,) = read_target(case["text"])
    typed = parse_target(case["expect"]["target"])
    assert (pasted.host, pasted.port, pasted.protocol, pasted.path) == (typed.host, typed.port, typed.protocol,
                                                                         typed.path)
    assert pasted.message is not None and pasted.message.said == case["expect"]["said"]
    assert "\n" not in pasted.input and len(pasted.input) <= 300


def test_a_password_in_the_message_is_masked_in_the_input():
    (t,) = read_target("could not connect to postgres://app:hunter2@db:5432/app: connection refused")
    assert "hunter2" not in t.input and (t.host, t.port) == ("db", 5432)


def test_a_connection_string_password_in_the_message_is_masked():
    (t,) = read_target("failed to connect to `host=localhost user=app password=hunter2 database=app`: "
                       "dial error (dial tcp [::1]:5432: connect: connection refused)")
    assert "hunter2" not in t.input and t.display == "[::1]:5432"


def test_a_log_yields_every_distinct_endpoint_once():
    log = "\n".join([
        "12:00:01 worker started",
        "12:00:02 Error: connect ECONNREFUSED 127.0.0.1:5432",
        "12:00:03 Error: connect ECONNREFUSED 127.0.0.1:5432",  # a retry: the same endpoint
        "12:00:04 Could not connect to Redis at 127.0.0.1:6379: Connection refused",
        "12:00:05 \x1b[31mdial tcp [::1]:8080: connect: connection refused\x1b[0m",
    ])
    targets, notes = targets_from_text(log, what="the log")
    assert [t.display for t in targets] == ["127.0.0.1:5432", "127.0.0.1:6379", "[::1]:8080"]
    assert notes == []
    assert all("\x1b" not in t.input for t in targets)


def test_kubectl_names_the_local_end_and_not_the_pods_inner_address():
    case = json.loads((FIXTURES / "kubectl.json").read_text())[0]
    scan = find_endpoints(case["text"])
    assert [e.target_text() for e in scan.endpoints] == ["localhost:8080"]
    assert "inside the pod" in scan.endpoints[0].note.lower()


@pytest.mark.parametrize("text", [
    "something went wrong",
    "java.net.ConnectException: Connection refused",
    "ConnectionRefusedError: [Errno 111] Connection refused",
    "SQLSTATE[HY000] [2002] Connection refused",
])
def test_a_message_without_an_address_is_a_usage_error_with_a_hint(text):
    with pytest.raises(UsageError) as info:
        read_target(text)
    message = str(info.value)
    assert "no address found" in message and "\n" not in message


def test_a_host_without_a_port_says_how_to_give_one():
    with pytest.raises(UsageError, match=r"portdoctor db:PORT"):
        read_target("Error: getaddrinfo ENOTFOUND db")


def test_a_target_is_still_a_target():
    (t,) = read_target("localhost:5432")
    assert t.message is None and t.input == "localhost:5432"
    with pytest.raises(UsageError):
        read_target("localhost:99999")


def test_huge_input_is_bounded(monkeypatch):
    monkeypatch.setattr("portdoctor.message.MAX_TEXT_BYTES", 256 * 1024)  # the 4 MiB figure: benchmarks/
    junk = ("x" * 5000 + " refused http://\n") * (256 * 1024 // 5000 + 10)
    start = time.monotonic()
    scan = find_endpoints(junk + "connect ECONNREFUSED 127.0.0.1:1\n")
    assert scan.truncated  # the tail beyond the bound is not read
    assert time.monotonic() - start < 60  # a sanity bound only; the figure is in benchmarks/


def test_from_log_reads_only_regular_files(tmp_path, capsys):
    import os

    from portdoctor.cli import main

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path, tmp_path / "missing.log"):
        assert main(["--report", "--from-log", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot read log" in err


def test_from_log_without_an_endpoint_is_a_usage_error(tmp_path, capsys):
    from portdoctor.cli import main

    log = tmp_path / "app.log"
    log.write_text("all good\nnothing failed here\n")
    assert main(["--report", "--from-log", str(log)]) == 2
    assert "no address found" in capsys.readouterr().err


@pytest.mark.parametrize("text, said", [
    ("org.springframework.web.client.ResourceAccessException: I/O error on GET request for "
     "\"http://db:80/\": Read timed out", "timeout"),  # "ResourceAccessException" is not EACCES
    ("connect EHOSTUNREACH 10.0.0.1:80", "unreachable"),
    ("Could not connect to Redis at 127.0.0.1:6379: Connection refused", "refused"),
])
def test_what_the_client_saw_is_read_from_words_not_substrings(text, said):
    (endpoint,) = find_endpoints(text).endpoints
    assert endpoint.said == said
