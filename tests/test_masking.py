"""Secrets in command lines are masked before they reach a report."""

import pytest

from portdoctor.masking import mask_command_line, mask_url


@pytest.mark.parametrize("line, secret", [
    ("postgres --password=hunter2 -p 5432", "hunter2"),
    ("app --password hunter2 --port 8080", "hunter2"),
    ("app --db-password hunter2", "hunter2"),
    ("curl https://example.test/?x=1 token=abc123", "abc123"),
    ("svc secret=s3cr3t", "s3cr3t"),
    ("worker --api-key=AKIA1234", "AKIA1234"),
    ("env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI python app.py", "wJalrXUtnFEMI"),
    ("env GITHUB_TOKEN=ghp_xyz python app.py", "ghp_xyz"),
    ("env DB_PASSWORD=pw1 STRIPE_KEY=sk_live_1 node server.js", "pw1"),
    ("env DB_PASSWORD=pw1 STRIPE_KEY=sk_live_1 node server.js", "sk_live_1"),
    ("java -Djavax.net.ssl.keyStorePassword=changeit -jar app.jar", "changeit"),
    ("psql postgres://app:pa55word@db:5432/app", "pa55word"),
    ("redis-cli -u redis://:onlypass@cache:6379", "onlypass"),
    ("git clone https://ghp_tokenonly@github.com/x/y", "ghp_tokenonly"),
    ("curl -H 'Authorization: Bearer eyJhbGciOi' http://localhost", "eyJhbGciOi"),
    ("curl 'https://api.test/v1?api_key=k3y&x=1'", "k3y"),
    ("psql postgres://db/app?sslpassword=pa55", "pa55"),
    ("wget http://h/dl?user=a&token=t0k", "t0k"),
])
def test_secret_is_masked(line, secret):
    masked = mask_command_line(line)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize("line", [
    "nginx: master process /usr/sbin/nginx -g daemon on;",
    "python -m http.server 8080 --bind 127.0.0.1",
    "postgres -D /var/lib/postgresql/data -c listen_addresses=*",
    "node server.js --port 3000 http://localhost:3000/health",
])
def test_ordinary_command_lines_are_unchanged(line):
    assert mask_command_line(line) == line


def test_structure_is_kept_around_the_mask():
    assert mask_command_line("psql postgres://app:pw@db/app") == "psql postgres://app:***@db/app"
    assert mask_command_line("app --password pw --port 1") == "app --password *** --port 1"
    assert mask_command_line("app --password=pw") == "app --password=***"
    assert mask_command_line("") == ""


@pytest.mark.parametrize("url, masked", [
    ("postgres://alice:hunter2@db:5432/app", "postgres://alice:***@db:5432/app"),
    ("redis://:hunter2@cache", "redis://:***@cache"),
    ("alice:hunter2@db:5432", "alice:***@db:5432"),  # no scheme: still the userinfo
    ("postgres://db/app?password=hunter2", "postgres://db/app?password=***"),
    ("postgres://db/app?a=1&sslpassword=hunter2&b=2", "postgres://db/app?a=1&sslpassword=***&b=2"),
    ("http://h/?token=hunter2;secret=hunter2", "http://h/?token=***;secret=***"),
    ("http://h/?API_KEY=hunter2", "http://h/?API_KEY=***"),
    ("http://h/cb#access_token=hunter2", "http://h/cb#access_token=***"),
    ("  postgres://a:hunter2@db", "  postgres://a:***@db"),  # stray prefix: still found
])
def test_mask_url_masks_the_password_and_secret_parameters(url, masked):
    assert mask_url(url) == masked


@pytest.mark.parametrize("url", [
    "postgres://alice@db:5432/app",  # a user alone stays (unlike in command lines)
    "https://ghp_user@github.com/x/y",
    "http://localhost:8080/health#top",
    "http://localhost/search?q=password&sort=token",  # sensitive words as values stay
    "http://127.0.0.1:80/path@foo",  # an @ in the path is not userinfo: an address is no user name
    "http://localhost:8080/react@18/umd",
    "http://host:4873/@babel/core",  # an @ that begins a path segment
    "http://host:8080/?email=a@b.example",  # an @ after the query's =
    "http://[::1]:8080/a@b",  # an IPv6 literal holds no userinfo (the @ in the path masked all of it)
    "https://user:pw@host/x@y".replace("pw", "***"),  # the host stays: the userinfo ends at its first part's @
    "db:5432",
    "",
])
def test_mask_url_keeps_what_is_not_a_secret(url):
    assert mask_url(url) == url


def test_mask_url_is_idempotent():
    once = mask_url("postgres://a:pw@db/app?token=t")
    assert mask_url(once) == once == "postgres://a:***@db/app?token=***"
