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
from portdoctor.target import is_loopback, parse_target


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


@pytest.mark.parametrize("text, shown", [
    ("postgres://127.0.0.1:5432/app?password=hunter2", "postgres://127.0.0.1:5432/app?password=***"),
    ("postgres://db/app?sslmode=require&sslpassword=hunter2", "postgres://db/app?sslmode=require&sslpassword=***"),
    ("http://127.0.0.1:8080/hook?token=hunter2&x=1", "http://127.0.0.1:8080/hook?token=***&x=1"),
    ("https://api.test/v1?api_key=hunter2", "https://api.test/v1?api_key=***"),
    ("redis://cache?secret=hunter2", "redis://cache?secret=***"),
    ("http://app.test/cb#access_token=hunter2&state=1", "http://app.test/cb#access_token=***&state=1"),
    ("postgres://alice:hunter2@db:5432/app?password=hunter2", "postgres://alice:***@db:5432/app?password=***"),
    ("postgres://alice:hunt@er2@db:5432/app", "postgres://alice:***@db:5432/app"),
])
def test_secrets_in_the_query_and_userinfo_are_masked_in_the_input(text, shown):
    t = parse_target(text)
    assert t.input == shown
    assert "hunter2" not in t.input and "er2" not in t.input


@pytest.mark.parametrize("text", [
    "postgres://alice@db:5432/app",  # a user without a password is not a secret
    "http://localhost:8080/health#top",
    "http://localhost:8080/search?q=password&page=2",
    "postgres://db:5432/app?sslmode=require",
])
def test_urls_without_secrets_keep_their_input(text):
    assert parse_target(text).input == text


@pytest.mark.parametrize("text, words", [
    ("postgres://alice:hunter2@127.0.0.1:99999/app", "'postgres://alice:***@127.0.0.1:99999/app': port 99999"),
    ("postgres://alice:hunter2@db:5x/app", "'postgres://alice:***@db:5x/app': the port '5x'"),
    ("postgres://127.0.0.1:0/app?password=hunter2", "'postgres://127.0.0.1:0/app?password=***'"),
    ("tcp://alice:hunter2@db/", "'tcp://alice:***@db/': tcp:// needs a port"),
    ("nosuch://alice:hunter2@db", "'nosuch://alice:***@db': no port given"),
    ("http://alice:hunter2@:80/", "'http://alice:***@:80/': the URL names no host"),
    ("http://alice:hunter2@bad_host!:80/", "'bad_host!' is not a valid host"),
    ("http://alice:hunter2@[::1:80/", "unbalanced '['"),
    ("alice:hunter2@db:5432", "'alice:***@db:5432': give host:port"),
    ("postgres://alice:hunter2@db:5432/app\n", "'postgres://alice:***@db:5432/app\\n': it contains control"),
    (" \x1bredis://:hunter2@cache:6379", "redis://:***@cache:6379"),
])
def test_usage_errors_quote_the_masked_target(text, words):
    with pytest.raises(UsageError) as info:
        parse_target(text)
    message = str(info.value)
    assert words in message
    assert "hunter2" not in message


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
        ("1.2.3.4.5:80", "not a valid IPv4 address"),
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
    if t.protocol == "unix":  # unix:///path or a bare absolute path
        assert t.path.startswith("/") and not t.path.endswith("/") and t.port == 0
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
        code = main(["--report", "--timeout", "0.3", "--", text])  # "--": a text like "--vers" is a target here, not an option
    out, err = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("portdoctor: error:")
    else:
        assert "Verdict" in out


# --- no secret typed into a TARGET leaves through any channel -----------------------

SECRET = "hunter2"


def _secret_targets(port: int) -> list[str]:
    return [
        f"postgres://alice:{SECRET}@127.0.0.1:{port}/app",
        f"postgres://127.0.0.1:{port}/app?sslmode=disable&password={SECRET}",
        f"http://127.0.0.1:{port}/hook?token={SECRET}&api_key={SECRET}#secret={SECRET}",
    ]


@pytest.mark.parametrize("text", [
    f"postgres://alice:{SECRET}@127.0.0.1:99999/app",
    f"postgres://127.0.0.1:0/app?password={SECRET}",
    f"alice:{SECRET}@db:5432",
    f"redis://:{SECRET}@cache:6379\x1b",
    f"x/y://alice:{SECRET}@db",  # not parsed as a URL, still masked in the message
])
def test_a_rejected_target_never_echoes_its_secret(text, capsys, tmp_path):
    assert main(["--report", "-o", str(tmp_path / "r.json"), text]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("portdoctor: error: bad target") and "***" in err
    assert SECRET not in out + err
    assert not (tmp_path / "r.json").exists()


def test_intermixed_and_subcommand_arguments_never_echo_a_secret(capsys):
    for argv in (["127.0.0.1:1", "--report", f"postgres://a:{SECRET}@127.0.0.1:0/x"],
                 ["explain", f"postgres://a:{SECRET}@db/x?token={SECRET}"],
                 ["schema", f"postgres://a:{SECRET}@db/x"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert SECRET not in out + err and err.count("\n") == 1, err


@pytest.mark.parametrize("ci", ["none", "github", "gitlab"])
def test_no_output_channel_carries_a_secret_from_a_target(ci, free_port, tmp_path, monkeypatch, capsys):
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # where --save writes
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    if ci == "github":
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    elif ci == "gitlab":
        monkeypatch.setenv("GITLAB_CI", "true")
    targets = _secret_targets(free_port)
    printed = ""
    with mock.patch("portdoctor.pipeline.resolve", _loopback_only):
        for fmt in ("text", "markdown", "json", "junit"):
            assert main(["--report", "--timeout", "0.3", "--format", fmt, "--save", *targets]) == 1
            assert main(["--report", "--timeout", "0.3", "-o", str(tmp_path / f"report.{fmt}"),
                         "--format", fmt, *targets]) == 1
            out, err = capsys.readouterr()
            printed += out + err
    written = {p: p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file()}
    assert len(written) >= 8  # four -o files and four --save copies (and the step summary)
    everything = printed + "".join(written.values())
    assert SECRET not in everything
    # The reports do show the targets, masked: the test looks where the secret would be.
    assert "postgres://alice:***@127.0.0.1" in everything and "password=***" in everything
    assert "token=***&api_key=***#secret=***" in everything


@pytest.mark.parametrize("text, path", [
    ("unix:///var/run/docker.sock", "/var/run/docker.sock"),
    ("unix:/var/run/docker.sock", "/var/run/docker.sock"),
    ("/run/mysqld/mysqld.sock", "/run/mysqld/mysqld.sock"),
])
def test_unix_socket_targets(text, path):
    t = parse_target(text)
    assert (t.protocol, t.path, t.display) == ("unix", path, f"unix://{path}")


@pytest.mark.parametrize("text", ["unix://relative.sock", "/run/", "/" + "x" * 200])
def test_bad_unix_socket_targets(text):
    with pytest.raises(UsageError):
        parse_target(text)


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("::1%lo", True),
    ("::ffff:127.0.0.1", True),  # an IPv4-mapped loopback, on every Python version
    ("::ffff:10.0.0.1", False), ("0.0.0.0", False), ("::", False), ("10.0.0.1", False),
    ("fe80::1%eth0", False), ("localhost", False), ("", False),
])
def test_one_loopback_test(address, loopback):
    assert is_loopback(address) is loopback
