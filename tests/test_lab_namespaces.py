"""Lab: a listener in another network namespace (a nested one, like a container's).

portdoctor runs as root; the lab's private PID namespace shows it only the scenario's
own processes, so the report lists exactly the listeners the scenario started.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab


def test_listener_in_another_namespace_is_other_namespace(lab):
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080, name="pd-ns-postgres", netns="box")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "other-namespace"
    (listener,) = r.json["listeners"]
    assert listener["process"] == "pd-ns-postgres"
    assert listener["pid"] and listener["port"] == 8080
    assert listener["namespace"] and listener["namespace"].startswith("net:[")
    f = r.finding("other-namespace")
    assert f["status"] == "fail" and f"pd-ns-postgres (pid {listener['pid']}, user root)" in f["detail"]
    assert any(step["command"] == f"nsenter -t {listener['pid']} -n ss -ltnp" for step in f["remediation"])
    assert r.finding("service-running")["cause"] != "not-listening", "the listener exists, elsewhere"


def test_listener_here_and_in_another_namespace_is_not_other_namespace(lab):
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080, name="pd-ns-here"),
                                               Listener("127.0.0.1", 8080, name="pd-ns-there", netns="box")])
    assert r.returncode == 0, r.stderr
    assert r.finding("other-namespace")["status"] == "pass"
    assert len(r.json["listeners"]) == 2 and {l["port"] for l in r.json["listeners"]} == {8080}
    names = {l["process"]: l["namespace"] for l in r.json["listeners"]}
    assert names["pd-ns-here"] is None and names["pd-ns-there"].startswith("net:[")


def test_a_named_ip_netns_is_labelled_by_its_name(lab):
    """`ip netns add blue` names show up as netns:blue.

    /run gets a fresh tmpfs inside the scenario's private mount namespace first, so the
    host's /run/netns is never touched.
    """
    import json
    import shlex
    import sys

    from labkit import LISTENER

    spec = json.dumps(Listener("127.0.0.1", 8080, name="pd-ns-blue").to_dict())
    r = lab.run(["127.0.0.1:8080"], setup=[
        "mount -t tmpfs tmpfs /run",
        "ip netns add blue",
        "ip -n blue link set lo up",
        f"ip netns exec blue {shlex.quote(sys.executable)} {shlex.quote(str(LISTENER))} {shlex.quote(spec)}"
        " >/dev/null 2>&1 &",
        "for i in $(seq 50); do ip netns exec blue ss -Hltn 'sport = :8080' | grep -q LISTEN && break; sleep 0.1; done",
    ])
    assert r.returncode == 1, r.stderr
    assert r.cause == "other-namespace"
    (listener,) = r.json["listeners"]
    assert listener["process"] == "pd-ns-blue"
    assert listener["namespace"] == "netns:blue"
    f = r.finding("other-namespace")
    assert any(step["command"] and "ip netns exec blue" in step["command"] for step in f["remediation"]), f
