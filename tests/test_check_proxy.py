"""proxy on fixture snapshots: which variable applies, no_proxy matching, the proxy probe."""

import pytest

from portdoctor.checks.proxy import ProxyCheck
from portdoctor.facts.proxyenv import ProxyProbe, effective_proxy, mask_url, no_proxy_match, parse_proxy_url
from portdoctor.model import Status
from portdoctor.testing import context


def run(target, environ, probe=None, outcomes="open", **kw):
    ctx = context(target, outcomes, environ=environ, **kw)
    setting = effective_proxy(environ, ctx.target.scheme or "http")
    if probe is not None and setting is not None:
        ctx.facts.extras[f"proxy-probe:{setting.host}:{setting.port}"] = probe
    return ProxyCheck().run(ctx)


@pytest.mark.parametrize("entries, host, port, expected", [
    ("*", "anything.test", 80, "*"),
    ("example.test", "example.test", 80, "example.test"),
    ("example.test", "api.example.test", 80, "example.test"),
    (".example.test", "api.example.test", 80, ".example.test"),
    ("*.example.test", "example.test", 80, "*.example.test"),
    ("ample.test", "example.test", 80, None),  # a suffix only at a dot boundary
    ("example.test", "example.test.evil", 80, None),
    ("10.0.0.0/8, 192.168.1.5", "10.1.2.3", 80, "10.0.0.0/8"),
    ("192.168.1.5", "192.168.1.5", 80, "192.168.1.5"),
    ("::1", "::1", 80, "::1"),
    ("localhost", "127.0.0.1", 80, None),  # names are compared as typed
    ("127.0.0.1", "localhost", 80, None),
    ("db.test:5432", "db.test", 5432, "db.test:5432"),
    ("db.test:5432", "db.test", 80, None),
    ("", "example.test", 80, None),
])
def test_no_proxy_matching(entries, host, port, expected):
    assert no_proxy_match(entries, host, port) == expected


def test_lookup_order_and_curl_upper_case_note():
    assert effective_proxy({"https_proxy": "http://p:3128", "http_proxy": "http://q:1"}, "https").variable == "https_proxy"
    upper = effective_proxy({"HTTP_PROXY": "http://q:8080"}, "http")
    assert upper.variable == "HTTP_PROXY" and "curl ignores" in upper.note
    assert effective_proxy({"ALL_PROXY": "socks5://s"}, "http").port == 1080
    assert effective_proxy({"https_proxy": "http://p:3128"}, "http") is None


def test_credentials_are_masked():
    assert mask_url("http://alice:s3cret@proxy:3128") == "http://alice:***@proxy:3128"
    assert "s3cret" not in parse_proxy_url("http_proxy", "http://alice:s3cret@proxy:3128").url


def test_dead_proxy_for_http_target_fails():
    f = run("http://127.0.0.1:8080/", {"http_proxy": "http://127.0.0.1:9"}, ProxyProbe("127.0.0.1", "refused"))
    assert f.status is Status.FAIL and f.cause == "proxy"
    assert "http_proxy" in f.title and "refuses" in f.title
    assert any("--noproxy" in (s.command or "") for s in f.remediation)


def test_live_local_proxy_is_a_warning():
    f = run("http://127.0.0.1:8080/", {"http_proxy": "http://127.0.0.1:3128"}, ProxyProbe("127.0.0.1", "open"))
    assert f.status is Status.WARN and f.cause == "proxy"


def test_remote_proxy_cannot_reach_this_machines_loopback():
    f = run("http://localhost:8080/", {"http_proxy": "http://10.9.9.9:3128"}, ProxyProbe("10.9.9.9", "open"))
    assert f.status is Status.FAIL and "whose 'localhost' is itself" in f.title


def test_no_proxy_exempts_target():
    f = run("https://api.example.test/", {"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ".example.test"},
            addresses=["192.0.2.10"])
    assert f.status is Status.PASS and "exempts" in f.title


def test_no_proxy_with_only_the_other_loopback_spelling_is_explained():
    f = run("http://127.0.0.1:8080/", {"http_proxy": "http://127.0.0.1:9", "no_proxy": "localhost"},
            ProxyProbe("127.0.0.1", "refused"))
    assert f.cause == "proxy" and "compared as typed" in f.detail


def test_bare_target_warns_only_about_http_clients():
    f = run("127.0.0.1:8080", {"http_proxy": "http://127.0.0.1:9"})
    assert f.status is Status.WARN and f.cause == "proxy" and "HTTP client" in f.title


def test_non_http_scheme_is_not_affected():
    assert run("postgres://127.0.0.1:5432/app", {"http_proxy": "http://127.0.0.1:9"}).status is Status.PASS


def test_no_variable_passes():
    assert run("http://127.0.0.1:8080/", {}).status is Status.PASS


def test_proxy_urls_are_masked_by_the_one_masker_query_tokens_included():
    from portdoctor.facts.proxyenv import mask_url

    assert mask_url("http://alice:s3cret@proxy:3128") == "http://alice:***@proxy:3128"
    assert mask_url("http://TOKEN123@proxy:3128/") == "http://***@proxy:3128/"
    assert mask_url("http://proxy:3128/?token=abc&x=1") == "http://proxy:3128/?token=***&x=1"
