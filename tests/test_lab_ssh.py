"""--ssh and --from against real OpenSSH servers in private namespaces (tests/labkit/sshlab.py).

Every server's /tmp, /root, /home and this checkout are empty tmpfs: what runs there is
the zip portdoctor sends over the SSH channel and the OS python3, nothing installed.
Each server-side cause is named from the client; a matrix of three hosts comes back
as one report per host.
"""

from __future__ import annotations

import pytest

from labkit import Listener
from labkit.sshlab import Server, SshLab, unavailable_reason

pytestmark = pytest.mark.lab

PORT = 5432


@pytest.fixture(scope="module")
def ssh_lab() -> SshLab:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return SshLab()


def ssh_args(*hosts: str, target: str | None = None, extra=()) -> list[str]:
    args = ["--report", "--format", "json", "--timeout", "1", "--ssh-config", "{config}", "--ssh-timeout", "3"]
    for host in hosts:
        args += ["--ssh", f"root@{{{host}}}"]
    return args + list(extra) + [target or f"{{{hosts[0]}}}:{PORT}"]


LOOPBACK_FIRST = ["nft add table inet lab",
                  "nft add chain inet lab input '{ type filter hook input priority 0; }'",
                  "nft add rule inet lab input iif lo accept",
                  f"nft add rule inet lab input tcp dport {PORT} drop"]


def rules(verdict: str) -> list[str]:
    return ["nft add table inet lab",
            "nft add chain inet lab input '{ type filter hook input priority 0; }'",
            f"nft add rule inet lab input tcp dport {PORT} {verdict}"]


@pytest.fixture(scope="module")
def causes_lab(ssh_lab):
    """Five servers, one server-side cause each, and the runs that diagnose them from the client."""
    servers = [
        Server("s0"),  # nothing listening
        Server("s1", listeners=[Listener("127.0.0.1", PORT, name="postgres")]),  # bound to loopback only
        Server("s2", listeners=[Listener("SERVER", PORT, name="postgres")], setup=rules("reject with tcp reset")),
        Server("s3", listeners=[Listener("SERVER", PORT, name="postgres")], setup=rules("drop")),
        Server("s4", listeners=[Listener("SERVER", PORT + 1, name="postgres")]),  # on another port
        # The usual shape: loopback accepted first, then the port dropped for everyone else.
        Server("s5", listeners=[Listener("SERVER", PORT, name="postgres")], setup=LOOPBACK_FIRST),
    ]
    runs = [
        ["ssh", "root@{s1}", "hostname; ss -Htln; python3 -c 'import portdoctor' 2>&1 | tail -1; ls -A /tmp /root"],
        ssh_args("s0"), ssh_args("s1"), ssh_args("s2"), ssh_args("s3"), ssh_args("s4"),
        ssh_args("s0", "s1", "s2", target=f":{PORT}"),
        ["--report", "--format", "json", "--ssh-config", "{config}", "--from", "root@{s1}", f"127.0.0.1:{PORT}"],
        ["--report", "--ssh-config", "{config}", "--timeout", "1", "--ssh", "root@{s0}", "--ssh", "root@{s1}",
         "--ssh", "root@{s2}", f":{PORT}"],
        ssh_args("s5"),
    ]
    return ssh_lab.run(servers, runs)


def test_the_lab_servers_are_real_and_empty(causes_lab):
    _, runs = causes_lab
    proof = runs[0]
    assert proof.returncode == 0, proof.stderr
    lines = proof.stdout.splitlines()
    assert lines[0] == "s1"  # the server's own hostname, over SSH
    assert any(f"127.0.0.1:{PORT}" in line for line in lines)  # its own sockets
    assert "No module named 'portdoctor'" in proof.stdout  # nothing of portdoctor installed there
    assert lines[-1] == "/tmp:" or "/root:" in proof.stdout


@pytest.mark.parametrize("index,cause,words", [
    (1, "not-listening", "Nothing is listening"),
    (2, "wrong-interface", "127.0.0.1"),
    (3, "firewall", "reject"),
    (4, "firewall", "drop"),
    (5, "not-listening", str(PORT + 1)),
])
def test_each_server_side_cause_is_named_from_the_client(causes_lab, index, cause, words):
    _, runs = causes_lab
    run = runs[index]
    assert run.returncode == 1, run.stderr
    report = run.json
    side = report["server_side"]
    assert side["status"] == "diagnosed", side
    assert side["report"]["host"]["hostname"] == f"s{index - 1}"
    assert report["verdict"]["cause"] == cause, report["verdict"]
    assert report["verdict"]["check"] == "server-side"
    assert report["verdict"]["summary"].startswith("From here: ")
    server = side["report"]
    text = " ".join(f["title"] + " " + f["detail"] for f in server["findings"]).lower()
    assert words.lower() in text, text
    if cause == "wrong-interface":
        assert report["verdict"]["first_step"]["text"].startswith("On root@"), report["verdict"]
        assert "bind" in report["verdict"]["first_step"]["text"].lower()


def test_the_probe_from_here_is_still_in_the_report(causes_lab):
    _, runs = causes_lab
    drop = runs[4].json
    assert [p["outcome"] for p in drop["probes"]] == ["timeout"]
    reject = runs[3].json
    assert [p["outcome"] for p in reject["probes"]] == ["refused"]


def test_three_hosts_make_a_matrix(causes_lab):
    _, runs = causes_lab
    run = runs[6]
    document = run.json
    reports = document["reports"]
    assert [r["host"]["ssh"] for r in reports] == [f"root@169.254.{10 + i}.2" for i in range(3)]
    assert [r["verdict"]["cause"] for r in reports] == ["not-listening", "wrong-interface", "firewall"]
    assert [r["target"]["host"] for r in reports] == [f"169.254.{10 + i}.2" for i in range(3)]


def test_the_text_matrix(causes_lab):
    _, runs = causes_lab
    text = runs[8].stdout
    assert runs[8].returncode == 1
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("  root@169.254.")}
    assert rows == {"root@169.254.10.2": ["not-listening"], "root@169.254.11.2": ["wrong-interface"],
                    "root@169.254.12.2": ["firewall"]}, text


def test_from_runs_the_whole_diagnosis_there(causes_lab):
    _, runs = causes_lab
    run = runs[7]
    report = run.json
    assert report["host"]["hostname"] == "s1" and report["host"]["ssh"] == "root@169.254.11.2"
    assert report["verdict"]["cause"] == "ok", report["verdict"]
    assert run.returncode == 0
    assert [listener["process"] for listener in report["listeners"]] == ["postgres"]


# --- when SSH does not get us there, or there is no python3 ---------------------------------


@pytest.fixture(scope="module")
def broken_lab(ssh_lab):
    servers = [
        Server("b0", ssh="off"),  # port 22 refused
        Server("b1", ssh="drop"),  # port 22 dropped: the SSH connect times out
        Server("b2", python=False, listeners=[Listener("127.0.0.1", PORT, name="postgres")]),
        Server("b3", known=False),  # its host key is not in known_hosts
        Server("b4", python=False, listeners=[Listener("SERVER", PORT, name="postgres")],
               setup=rules("reject with tcp reset")),
        Server("b5", python=False, listeners=[Listener("SERVER", PORT, name="postgres")], setup=LOOPBACK_FIRST),
    ]
    runs = [
        ["ssh", "root@{b2}", "command -v python3 python3.11; ls /usr/bin/python3; echo exit=$?"],
        ssh_args("b0"), ssh_args("b1", extra=["--ssh-timeout", "2"]), ssh_args("b2"), ssh_args("b3"), ssh_args("b4"),
        ["--report", "--format", "json", "--ssh-config", "{config}", "--from", "root@{b2}", f"127.0.0.1:{PORT}"],
        ssh_args("b5"),
    ]
    return ssh_lab.run(servers, runs)


def test_the_server_without_python_has_none(broken_lab):
    _, runs = broken_lab
    assert "exit=2" in runs[0].stdout and "/usr/bin/python3" not in runs[0].stdout.split("exit=")[0], runs[0].stdout


@pytest.mark.parametrize("index,kind,words", [
    (1, "refused", "refused"),
    (2, "timeout", "timed out"),
    (4, "host-key-unknown", "not in known_hosts"),
])
def test_a_broken_ssh_path_is_a_skip_and_the_local_diagnosis_stands(broken_lab, index, kind, words):
    _, runs = broken_lab
    run = runs[index]
    report = run.json
    assert run.returncode == 1
    side = report["server_side"]
    assert side["status"] == "skipped" and words in side["reason"], side
    finding = next(f for f in report["findings"] if f["check"] == "server-side")
    assert finding["status"] == "skip" and finding["evidence"]["ssh"] == kind
    # The local part stands: the client's own probe and checks name the cause.
    assert report["verdict"]["check"] != "server-side"
    assert report["probes"] and report["verdict"]["cause"] == "not-listening"
    if kind == "host-key-unknown":
        commands = [r["command"] for r in finding["remediation"]]
        assert any("ssh-keyscan" in c and "ssh-keygen -lf" in c for c in commands), commands
        assert "\n" not in side["reason"]


def test_without_python3_reduced_facts_still_name_the_cause(broken_lab):
    _, runs = broken_lab
    for index, cause in ((3, "wrong-interface"), (5, "firewall")):
        report = runs[index].json
        side = report["server_side"]
        assert side["status"] == "reduced" and "python3" in side["reason"], side
        assert side["report"]["host"]["hostname"] == f"b{index - 1}"
        assert any("reduced facts" in n for n in side["report"]["notes"])
        assert report["verdict"]["cause"] == cause, report["verdict"]


def test_from_without_python3_is_an_honest_skip(broken_lab):
    _, runs = broken_lab
    run = runs[6]
    report = run.json
    assert run.returncode == 1
    assert report["verdict"]["cause"] == "unknown"
    assert report["findings"][0]["status"] == "skip" and "python3" in report["findings"][0]["title"]


def test_a_rule_that_spares_loopback_is_judged_for_the_clients_packet(causes_lab, broken_lab):
    """'iif lo accept' first: the server's own probe gets in, the client's does not; both modes see it."""
    for run, status in ((causes_lab[1][9], "diagnosed"), (broken_lab[1][7], "reduced")):
        report = run.json
        assert report["server_side"]["status"] == status
        assert report["verdict"]["cause"] == "firewall", report["verdict"]
        server = report["server_side"]["report"]
        ingress = next(f for f in server["findings"] if f["check"] == "firewall-from-client")
        assert ingress["status"] == "fail" and "drop" in ingress["title"], ingress
        assert ingress["evidence"]["packet"]["saddr"] == "169.254.15.1"
        assert any("nft delete rule inet lab input handle" in (r["command"] or "") for r in ingress["remediation"])
