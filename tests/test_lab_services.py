"""The well-known-service check end to end: a real Unix-socket-only "postgres" in the lab."""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab


def test_postgres_listening_only_on_its_unix_socket(lab, tmp_path):
    # portdoctor runs as nobody: as root it would also see (and rightly report) a port-5432
    # listener in any other network namespace on this machine, e.g. another test's lab.
    path = str(tmp_path / "run" / "postgresql" / ".s.PGSQL.5432")
    r = lab.run(["127.0.0.1:5432"], listeners=[Listener(path, 5432, protocol="unix", name="postgres")],
                user="nobody")
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
    f = r.finding("well-known-service")
    assert f["status"] == "warn" and f["cause"] == "not-listening"
    assert f"only on the Unix socket {path}" in f["title"], f["title"]
    assert "PostgreSQL is running (postgres pid" in f["title"]
    assert f["evidence"]["unix_sockets"] == [path]
    assert any(s["command"] == f"psql -h {tmp_path}/run/postgresql -p 5432" for s in f["remediation"])


def test_postgres_not_running_at_all(lab):
    r = lab.run(["127.0.0.1:5432"], user="nobody")
    assert r.returncode == 1, r.stderr
    f = r.finding("well-known-service")
    assert f["status"] == "warn" and f["cause"] == "not-listening"
    assert "does not appear to be running" in f["title"]


def test_postgres_listening_on_tcp_passes(lab):
    r = lab.run(["127.0.0.1:5432"], listeners=[Listener("127.0.0.1", 5432, name="postgres")])
    assert r.returncode == 0, r.stderr
    f = r.finding("well-known-service")
    assert f["status"] == "pass" and "postgres listens on it" in f["title"]
