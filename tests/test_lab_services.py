"""The well-known-service check end to end: a real Unix-socket-only "postgres" in the lab.

Each scenario runs with portdoctor as root and as nobody: the lab's private PID
namespace shows root only the scenario's own processes, and nobody (who cannot read
other users' sockets) must reach the same conclusion.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

AS_ROOT_AND_NOBODY = pytest.mark.parametrize("user", [None, "nobody"], ids=["root", "nobody"])


@AS_ROOT_AND_NOBODY
def test_postgres_listening_only_on_its_unix_socket(lab, tmp_path, user):
    path = str(tmp_path / "run" / "postgresql" / ".s.PGSQL.5432")
    r = lab.run(["127.0.0.1:5432"], listeners=[Listener(path, 5432, protocol="unix", name="postgres")],
                user=user)
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
    f = r.finding("well-known-service")
    assert f["status"] == "fail" and f["cause"] == "not-listening"
    assert r.json["verdict"]["check"] == "well-known-service"  # the specific evidence is the headline
    assert f"only on the Unix socket {path}" in f["title"], f["title"]
    assert "PostgreSQL is running (postgres pid" in f["title"]
    assert f["evidence"]["unix_sockets"] == [path]
    assert any(s["command"] == f"psql -h {tmp_path}/run/postgresql -p 5432" for s in f["remediation"])


@AS_ROOT_AND_NOBODY
def test_postgres_not_running_at_all(lab, user):
    r = lab.run(["127.0.0.1:5432"], user=user)
    assert r.returncode == 1, r.stderr
    f = r.finding("well-known-service")
    assert f["status"] == "warn" and f["cause"] == "not-listening"
    assert "does not appear to be running" in f["title"]


def test_postgres_listening_on_tcp_passes(lab):
    r = lab.run(["127.0.0.1:5432"], listeners=[Listener("127.0.0.1", 5432, name="postgres")])
    assert r.returncode == 0, r.stderr
    f = r.finding("well-known-service")
    assert f["status"] == "pass" and "postgres listens on it" in f["title"]
