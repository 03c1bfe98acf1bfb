"""Secrets in command lines are masked before they reach a report."""

import pytest

from portdoctor.masking import mask_command_line


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
