"""TARGET parsing: every form of the contract's table, the malformed ones, and a property.

The property test drives both ``parse_target`` and ``main()`` with arbitrary strings:
every input ends in a report (exit 0/1) or a one-line usage error (exit 2), never a
traceback or exit 3. Name resolution is stubbed to loopback for it, so no DNS query
ever leaves this machine and no probe goes anywhere but 127.0.0.1.
"""

from __future__ import annotations

import string
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from portdoctor.cli import main
from portdoctor.exitcodes import UsageError
from portdoctor.target import parse_target


@pytest.mark.parametrize(
    "text, host, port, protocol",
    [
        ("127.0.0.1:62893", "127.0.0.1", 62893, "tcp"),
        ("localhost:62893", "localhost", 62893, "tcp"),
        ("[::1]:62893", "::1", 62893, "tcp"),
        (":62893", "localhost", 62893, "tcp"),
        ("62893", "localhost", 62893, "tcp"),
        ("http://localhost:8080/health", "localhost", 8080, "tcp"),
        ("https://example.test/", "example.test", 443, "tcp"),
        ("http://example.test", "example.test", 80, "tcp"),
        ("postgres://db:5432/app", "db", 5432, "tcp"),
        ("redis://cache", "cache", 6379, "tcp"),
        ("udp://127.0.0.1:53", "127.0.0.1", 53, "udp"),
        ("tcp://[::1]:8080", "::1", 8080, "tcp"),
        ("db.internal:5432", "db.internal", 5432, "tcp"),
        ("  127.0.0.1:80  ", "127.0.0.1", 80, "tcp"),
        ("127.0.0.1:65535", "127.0.0.1", 65535, "tcp"),
        ("127.0.0.1:1", "127.0.0.1", 1, "tcp"),
    ],
)
def test_every_contract_form_parses(text, host, port, protocol):
    t = parse_target(text)
    assert (t.host, t.port, t.protocol) == (host, port, protocol)


def test_defaulted_host_is_marked():
    assert parse_target(":62893").host_defaulted
    assert parse_target("62893").host_defaulted
    assert not parse_target("localhost:62893").host_defaulted


def test_credentials_in_a_url_are_masked_in_the_input():
    t = parse_target("postgres://app:s3cret@db:5432/app")
    assert "s3cret" not in t.input and t.host == "db" and t.port == 5432


@pytest.mark.parametrize(
    "text, words",
    [
        ("127.0.0.1:0", "out of range"),
        ("127.0.0.1:65536", "out of range"),
        ("127.0.0.1:99999999999", "out of range"),
        ("127.0.0.1:80a", "not a number"),
        ("127.0.0.1:-1", "not a number"),
        ("localhost:http", "not a number"),
        ("[::1:8080", "unbalanced"),
        ("::1]:8080", "unbalanced"),
        ("::1:8080", "brackets"),
        ("fe80::1:22", "brackets"),
        ("127.0.0.1:80\n", "control characters"),
        ("127.0.0.1\x00:80", "control characters"),
        ("\x1b[31mhost:80", "control characters"),
        ("", "empty"),
        ("   ", "empty"),
        ("localhost", "no port"),
        ("[nothex]:80", "not an IPv6"),
        ("udp://127.0.0.1", "needs a port"),
        ("nosuchscheme://host", "no default port"),
        ("host/path:80", "give host:port"),
        ("http://:80/", "names no host"),
        ("bad_host!:80", "not a valid host"),
        ("[::1]x:80", "after ']'"),
        ("1.2.3:80", "not a valid host"),
        ("127.0.0.1:٣", "not a number"),  # an Arabic-Indic digit is not an ASCII port
    ],
)
def test_malformed_targets_are_one_line_usage_errors(text, words):
    with pytest.raises(UsageError) as info:
        parse_target(text)
    message = str(info.value)
    assert words in message
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize("text", ["127.0.0.1:0", "::1:8080", "[::1", "127.0.0.1:abc", ""])
def test_main_turns_a_malformed_target_into_exit_2(text, capsys):
    assert main(["--report", text]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("portdoctor: error: bad target") and err.count("\n") == 1
    assert "Traceback" not in err


# --- property: no input ever escapes as a traceback -------------------------------

# Mostly target-shaped strings (so that many parse), plus arbitrary text.
_pieces = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "::1", "db", "http://", "udp://",
                           "redis://", ":", "[", "]", "/", "@", "#", "?", "%", "0", "1", "65535",
                           "65536", "8080", " ", "\t", "\n", "\x00", "é", "..", "-", "_"])
# host[:port][/path] shapes with plausible and implausible parts: about half parse.
_STRUCTURED = st.builds(
    lambda scheme, host, sep, port, path: f"{scheme}{host}{sep}{port}{path}",
    st.sampled_from(["", "", "", "http://", "postgres://", "udp://", "redis://", "tcp://"]),
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "db", "", "cache.internal", "::1", "[::1", "é.test"]),
    st.sampled_from([":", ":", ":", "", "::"]),
    st.one_of(st.integers(1, 65535).map(str), st.integers(1, 65535).map(str),
              st.integers(-2, 70000).map(str), st.sampled_from(["", "08080", "80x", " 80"])),
    st.sampled_from(["", "", "", "", "/health", "/app?x=1", "#frag"]),
)
TARGETS = st.one_of(_STRUCTURED, _STRUCTURED,st.text(max_size=40), st.lists(_pieces, min_size=1, max_size=6).map("".join),
                    st.text(alphabet=string.printable, max_size=30))


@settings(max_examples=400, deadline=None)
@given(TARGETS)
def test_parse_target_returns_a_target_or_raises_usage_error(text):
    try:
        t = parse_target(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= t.port <= 65535 and t.host and t.protocol in ("tcp", "udp")


def _loopback_only(host, port, protocol="tcp", timeout=5.0):
    return ["127.0.0.1"], None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(_STRUCTURED, TARGETS))
def test_main_never_raises_and_never_exits_3(capsys, text):
    # Every name "resolves" to 127.0.0.1 without a DNS query; literal addresses too,
    # so probes never leave loopback.
    with mock.patch("portdoctor.pipeline.resolve", _loopback_only):
        code = main(["--report", "--timeout", "0.3", text])
    out, err = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("portdoctor: error:")
    else:
        assert "Verdict" in out
