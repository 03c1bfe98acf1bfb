"""No confident wrong answer: the headline (verdict and "Do now") follows the strongest
evidence, on real setups in the lab.

Each scenario asserts the cause, the exit code and the first remediation step
(``verdict.first_step``), as root and, where it applies, as ``nobody``.
"""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab

AS_ROOT_AND_NOBODY = pytest.mark.parametrize("user", [None, "nobody"], ids=["root", "nobody"])


def first_step(r) -> dict:
    step = r.json["verdict"]["first_step"]
    assert step, r.json["verdict"]
    return step


# --- 1. the service runs, just not there ----------------------------------------------


@AS_ROOT_AND_NOBODY
def test_redis_with_port_0_listens_only_on_its_socket(lab, tmp_path, user):
    path = str(tmp_path / "redis.sock")
    r = lab.run(["127.0.0.1:6379"], user=user, listeners=[
        Listener(path, 6379, protocol="unix", name="redis-server", extra_args=["--port", "0"])])
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
    verdict = r.json["verdict"]
    assert verdict["check"] == "well-known-service"
    assert "Redis is running (redis-server pid" in verdict["summary"]
    assert f"listens only on the Unix socket {path}" in verdict["summary"]
    assert first_step(r)["text"] == "Turn TCP on: set port 6379 (not port 0) in redis.conf, then restart."
    assert not any("Start the service" in s["text"] for f in r.json["findings"] for s in f["remediation"])


@AS_ROOT_AND_NOBODY
def test_redis_on_6380_while_6379_is_asked(lab, user):
    r = lab.run(["127.0.0.1:6379"], user=user, listeners=[
        Listener("127.0.0.1", 6380, name="redis-server", extra_args=["--port", "6380"])])
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
    verdict = r.json["verdict"]
    assert verdict["check"] == "well-known-service"
    assert "listens on 127.0.0.1:6380" in verdict["summary"], verdict["summary"]
    assert first_step(r)["text"].startswith("Connect to 127.0.0.1:6380, where it listens, or set its port to 6379")


@AS_ROOT_AND_NOBODY
def test_postgres_with_empty_listen_addresses(lab, tmp_path, user):
    path = str(tmp_path / "run" / "postgresql" / ".s.PGSQL.5432")
    r = lab.run(["127.0.0.1:5432"], user=user, listeners=[
        Listener(path, 5432, protocol="unix", name="postgres", extra_args=["-c", "listen_addresses="])])
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
    assert r.json["verdict"]["check"] == "well-known-service"
    assert "PostgreSQL is running" in r.json["verdict"]["summary"]
    assert first_step(r)["text"].startswith("Turn TCP on: set listen_addresses = 'localhost'")


# --- 3. --expect across addresses -----------------------------------------------------


def test_expect_on_an_address_nothing_serves_is_not_port_in_use(lab):
    r = lab.run(["--expect", "nginx", "127.0.0.2:8000"], listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening", r.json["verdict"]
    assert r.finding("port-owner")["status"] == "pass"
    step = first_step(r)
    assert step["text"].startswith("Start nginx on 127.0.0.2:8000")
    assert not any((s["command"] or "").startswith(("kill", "fuser"))
                   for f in r.json["findings"] for s in f["remediation"])


def test_expect_with_a_stranger_on_the_wildcard_is_port_in_use(lab):
    r = lab.run(["--expect", "nginx", "127.0.0.2:8000"], listeners=[Listener("0.0.0.0", 8000, name="python3")])
    assert r.returncode == 1, r.stderr
    assert r.cause == "port-in-use"


# --- 4. a stopped owner ---------------------------------------------------------------


@AS_ROOT_AND_NOBODY
@pytest.mark.parametrize("full", [False, True], ids=["queue-has-room", "queue-full"])
def test_a_stopped_listener_is_never_accepting(lab, user, full):
    listener = Listener("127.0.0.1", 8000, name="python3", stop=True, user=user,
                        backlog=1 if full else 128, fill=2 if full else 0)
    r = lab.run(["--timeout", "1", "127.0.0.1:8000"], user=user, listeners=[listener])
    assert r.returncode == 1, r.stderr
    assert r.cause == "backlog-full"
    f = r.finding("backlog")
    assert f["status"] == "fail" and "is stopped" in f["title"]
    pid = r.json["listeners"][0]["pid"]
    assert first_step(r)["command"] == f"kill -CONT {pid}"
    assert "accepting (" not in r.stdout


def test_without_root_a_stopped_owner_of_another_user_is_a_hedged_warning_with_sudo(lab):
    """The owner (root's python3, SIGSTOPped) is hidden from nobody; the kernel completes the
    handshake into its queue. Its state and uid are world-readable: a candidate, not a proof."""
    r = lab.run(["--timeout", "1", "127.0.0.1:8000"], user="nobody",
                listeners=[Listener("127.0.0.1", 8000, name="python3", stop=True)])
    assert r.json["listeners"][0]["pid"] is None  # hidden: the socket cannot be tied to a process
    f = r.finding("backlog")
    assert f["status"] == "warn" and f["cause"] == "backlog-full", f
    assert "hidden" in f["title"] and "is stopped (SIGSTOP or Ctrl-Z): python3 (pid " in f["title"]
    assert "names port 8000" in f["title"]  # its command line names the port
    (candidate,) = f["evidence"]["stopped_candidates"]
    assert candidate["process"] == "python3" and candidate["state"] == "T"
    assert f["remediation"][0]["command"] == "sudo portdoctor --report 127.0.0.1:8000"
    assert f["remediation"][1]["command"] == f"sudo kill -CONT {candidate['pid']}"
    # Reachable by the kernel's answer, so the verdict stays ok; the report says what it did not see.
    assert r.cause == "ok" and r.returncode == 0
    assert "Only the kernel's side was seen" in r.json["verdict"]["summary"]
    assert any(n.startswith("acceptance: ") and "not verified" in n for n in r.json["notes"]), r.json["notes"]


def test_without_root_a_running_hidden_owner_is_ok_with_acceptance_not_verified(lab):
    r = lab.run(["127.0.0.1:8000"], user="nobody", listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert r.returncode == 0 and r.cause == "ok"
    assert r.finding("backlog")["status"] == "pass"
    assert any(n.startswith("acceptance: ") and "not verified" in n for n in r.json["notes"]), r.json["notes"]
    root = lab.run(["127.0.0.1:8000"], listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert root.cause == "ok" and not any(n.startswith("acceptance: ") for n in root.json["notes"])
    assert "kernel's side" not in root.json["verdict"]["summary"]


# --- 5. reachable: the first address in resolver order accepts -----------------------

V6_FIRST = "::1 localhost\n127.0.0.1 localhost\n"


def test_localhost_resolving_to_v6_first_served_on_v6_only_is_reachable(lab):
    r = lab.run(["localhost:8000"], hosts=V6_FIRST, listeners=[Listener("::1", 8000, name="python3")])
    assert r.json["target"]["addresses"] == ["::1", "127.0.0.1"]
    assert r.returncode == 0, r.json["verdict"]
    assert r.cause == "ok" and r.json["verdict"]["reachable"] is True
    f = r.finding("wrong-interface")
    assert f["status"] == "warn" and "Java" in f["title"]


@AS_ROOT_AND_NOBODY
def test_wait_uses_the_same_reachability(lab, user):
    r = lab.run(["--wait", "5", "localhost:8000"], json_report=False, hosts=V6_FIRST, user=user,
                listeners=[Listener("::1", 8000, name="python3")])
    assert r.returncode == 0, r.stderr
    assert "is up after" in r.stderr
    # Up by the resolver-order rule; the clients that try 127.0.0.1 are named, one line per address.
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, r.stderr
    assert "localhost:8000" in warnings[0] and "127.0.0.1 is refused" in warnings[0] and "Java" in warnings[0]


def test_localhost_whose_first_address_refuses_is_wrong_interface(lab):
    r = lab.run(["localhost:8000"], hosts=V6_FIRST, listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert r.returncode == 1
    assert r.cause == "wrong-interface"


# --- 6. --expect while the owner is hidden ---------------------------------------------


def test_expect_with_a_hidden_owner_never_exits_0(lab):
    r = lab.run(["--expect", "nginx", "127.0.0.1:8000"], user="nobody",
                listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert r.returncode == 1, r.json["verdict"]
    assert r.cause == "unverified"
    assert first_step(r)["command"] == "sudo portdoctor --report --expect nginx 127.0.0.1:8000"


def test_expect_with_a_visible_matching_owner_passes(lab):
    r = lab.run(["--expect", "nginx", "127.0.0.1:8000"], user="nobody",
                listeners=[Listener("127.0.0.1", 8000, name="nginx", user="nobody")])
    assert r.returncode == 0, r.json["verdict"]
    assert r.cause == "ok"


# --- 2. a "did you mean" guess keeps the protocol and the serving address -------------


def test_did_you_mean_keeps_udp(lab):
    r = lab.run(["udp://127.0.0.1:5354"], listeners=[Listener("127.0.0.1", 5353, protocol="udp", name="dnsd")])
    assert r.returncode == 1 and r.cause == "not-listening"
    assert first_step(r)["command"] == "portdoctor udp://127.0.0.1:5353"


def test_did_you_mean_names_the_address_that_serves(lab):
    r = lab.run(["127.0.0.1:8001"], listeners=[Listener("127.0.0.2", 8000, name="python3")])
    assert r.returncode == 1 and r.cause == "not-listening"
    assert "Did you mean 127.0.0.2:8000" in r.json["verdict"]["summary"]
    assert first_step(r)["command"] == "portdoctor 127.0.0.2:8000"


def test_a_guess_never_outranks_a_finding(lab):
    # 6380 looks like a typo of 6379, but the evidence (Redis runs there) leads.
    r = lab.run(["127.0.0.1:6379"], listeners=[Listener("127.0.0.1", 6380, name="redis-server")])
    assert r.json["verdict"]["check"] == "well-known-service"


# --- 12. small ones -------------------------------------------------------------------


@AS_ROOT_AND_NOBODY
def test_commands_are_pasteable(lab, user):
    r = lab.run(["[::1]:8001"], user=user, listeners=[Listener("::1", 8000, name="python3")])
    assert r.returncode == 1
    assert first_step(r)["command"] == "portdoctor '[::1]:8000'"  # zsh globs unquoted brackets
    commands = [s["command"] or "" for f in r.json["findings"] for s in f["remediation"]]
    # The lab's PID 1 is not systemd: no systemctl/journalctl advice.
    assert not any("systemctl" in c or "journalctl" in c for c in commands), commands
    if user is None:  # already root: no sudo prefix
        assert not any(c.startswith("sudo ") for c in commands), commands


# --- 7. a full accept queue without root: the queue evidence, not an inferred firewall ---


@AS_ROOT_AND_NOBODY
def test_listen_0_full_queue_is_backlog_full_never_an_inferred_firewall(lab, user):
    r = lab.run(["--timeout", "1", "127.0.0.1:8000"], user=user, listeners=[
        Listener("127.0.0.1", 8000, name="python3", accept=False, backlog=0, fill=3)])
    assert r.returncode == 1
    assert r.cause == "backlog-full", r.json["verdict"]
    assert r.finding("firewall")["status"] in ("pass", "skip")
    assert "firewall" not in [c["cause"] for c in r.json["verdict"]["also"]]
    assert "A firewall rule was also found" not in r.finding("backlog")["detail"]
    assert first_step(r)["command"] == "ss -ltn 'sport = :8000'"


# --- 8. a listener in another network namespace, seen without root ---------------------


@AS_ROOT_AND_NOBODY
def test_listener_in_another_network_namespace(lab, user):
    r = lab.run(["127.0.0.1:8000"], user=user, listeners=[Listener("127.0.0.1", 8000, name="python3", netns="c1")])
    assert r.returncode == 1
    assert r.cause == "other-namespace", r.json["verdict"]
    assert r.json["listeners"][0]["namespace"]
    command = first_step(r)["command"]
    assert "nsenter -t " in command and command.startswith("sudo ") is (user is not None)


# --- 9. root, with the owner in another PID namespace -----------------------------------


def test_root_with_the_owner_in_another_pid_namespace_says_run_on_the_host(lab):
    r = lab.run(["--expect", "nginx", "127.0.0.1:8000"], own_pid_namespace=True,
                listeners=[Listener("127.0.0.1", 8000, name="python3")])
    assert r.returncode == 1
    assert r.cause == "unverified"
    step = first_step(r)
    assert "another PID namespace" in step["text"] and "on the host" in step["text"]
    assert not step["command"].startswith("sudo")
    text = lab.run(["--report", "127.0.0.1:8000"], json_report=False, own_pid_namespace=True,
                   listeners=[Listener("127.0.0.1", 8000, name="python3")]).stdout
    assert "run with sudo" not in text and "run portdoctor on" in " ".join(text.split())


# --- 10. the short text report ------------------------------------------------------------


def test_a_not_listening_report_is_short_and_says_each_step_once(lab):
    r = lab.run(["--report", "127.0.0.1:8000"], json_report=False)
    lines = r.stdout.rstrip().splitlines()
    assert r.returncode == 1
    assert len(lines) <= 22, r.stdout
    assert all(len(line) <= 80 for line in lines if not line.lstrip().startswith("$ ")), r.stdout
    assert len([line for line in lines if line.startswith("  PASS")]) == 1  # one tally
    start = next(i for i, line in enumerate(lines) if line.startswith("  PASS"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 8))
    assert end - start <= 2 and lines[start].startswith("  PASS  "), lines[start:end]  # at most two lines
    assert " checks: " in lines[start]  # how many passed, then their names
    assert lines[-1].strip().startswith("(") and any(line.startswith("Verdict  NOT-LISTENING") for line in lines)
    steps = [line.strip() for line in lines if line.lstrip().startswith("$ ")]
    assert len(steps) == len(set(steps)), steps  # no remediation twice
    verbose = lab.run(["--report", "-v", "127.0.0.1:8000"], json_report=False)
    assert "PASS  resolution" in verbose.stdout and len(verbose.stdout.splitlines()) > len(lines)
