"""Lab: pasting a client's error message gives the same diagnosis as typing the address.

Real listeners in a private network namespace; each message is one of the fixtures'
wordings with this scenario's port. Also the findings the message itself brings:
the address the client used, and a contradiction with what is seen now.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("message, typed, listeners, cause", [
    ("Error: connect ECONNREFUSED ::1:5173", "[::1]:5173",
     [Listener("127.0.0.1", 5173, name="node")], "wrong-interface"),
    ("Could not connect to Redis at 127.0.0.1:6379: Connection refused", "127.0.0.1:6379", [], "not-listening"),
    ("dial tcp 127.0.0.1:8080: connect: connection refused", "127.0.0.1:8080",
     [Listener("127.0.0.2", 8080)], "wrong-interface"),
    ("ERROR 2002 (HY000): Can't connect to local MySQL server through socket '/mnt/mysqld.sock' (2)",
     "/mnt/mysqld.sock", [Listener("127.0.0.1", 3306, name="mysqld")], "wrong-interface"),
])
def test_pasting_equals_typing(lab, message, typed, listeners, cause):
    setup = ["mount -t tmpfs tmpfs /mnt"]
    pasted = lab.run([message], listeners=listeners, setup=setup)
    direct = lab.run([typed], listeners=listeners, setup=setup)
    assert pasted.cause == direct.cause == cause, (pasted.json["verdict"], direct.json["verdict"])
    assert pasted.returncode == direct.returncode == 1
    assert pasted.json["target"]["input"] == " ".join(message.split())
    for key in ("host", "port", "protocol"):
        assert pasted.json["target"][key] == direct.json["target"][key]


def test_the_address_the_client_used_is_the_headline(lab):
    message = 'connection to server at "localhost" (::1), port 5432 failed: Connection refused'
    r = lab.run([message], listeners=[Listener("127.0.0.1", 5432, name="postgres")],
                hosts="::1 localhost\n127.0.0.1 localhost\n")
    assert r.cause == "wrong-interface"
    assert r.json["verdict"]["summary"] == "Your client connected to ::1; the server listens on 127.0.0.1 only."
    assert r.json["target"]["addresses"][0] == "::1"  # the client's address is diagnosed first


def test_it_works_now_is_a_finding(lab):
    r = lab.run(["Error: connect ECONNREFUSED 127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080)])
    assert r.returncode == 0 and r.cause == "ok"
    f = r.finding("client-message")
    assert f["status"] == "warn" and "accepts connections now" in f["title"]


def test_timeout_said_refused_seen(lab):
    r = lab.run(["Error: connect ETIMEDOUT 127.0.0.1:8080"])
    f = r.finding("client-message")
    assert f["status"] == "warn" and "but here it is refused" in f["title"]


def test_from_log_diagnoses_every_endpoint(lab):
    log = ("12:00:01 Error: connect ECONNREFUSED 127.0.0.1:5432\n"
           "12:00:02 Error: connect ECONNREFUSED 127.0.0.1:5432\n"
           "12:00:03 Could not connect to Redis at 127.0.0.1:6379: Connection refused\n")
    r = lab.run(["--from-log", "/mnt/app.log"], listeners=[Listener("127.0.0.1", 6379, name="redis-server")],
                setup=["mount -t tmpfs tmpfs /mnt", f"printf '{log}' > /mnt/app.log"])
    reports = r.json["reports"]
    assert [(x["target"]["port"], x["verdict"]["cause"]) for x in reports] == [(5432, "not-listening"), (6379, "ok")]
    assert r.returncode == 1
