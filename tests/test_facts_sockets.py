"""Socket facts: the sock_diag and /proc/net parsers on captured bytes, and the live kernel."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from portdoctor.facts import Snapshot, netlink, sockets

FIXTURES = Path(__file__).parent / "fixtures" / "sockets"
linux_only = pytest.mark.skipif(not hasattr(socket, "AF_NETLINK"), reason="netlink is Linux-only")


def captured_chunks(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    chunks, offset = [], 0
    while offset < len(data):
        (length,) = struct.unpack_from("=I", data, offset)
        chunks.append(data[offset + 4: offset + 4 + length])
        offset += 4 + length
    return chunks


def captured_inodes() -> dict[str, int]:
    rows = (FIXTURES / "inodes.txt").read_text().splitlines()
    return {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in rows}


# --- sock_diag parser on the kernel's real reply ------------------------------------


def test_sock_diag_tcp4_listener_with_accept_queue_and_backlog():
    rows = netlink.parse_sock_diag(captured_chunks("sock_diag_tcp4_port8080.bin"), "tcp")
    listen = [r for r in rows if r.state == "LISTEN"]
    assert len(listen) == 1
    l = listen[0]
    assert (l.address, l.port, l.family) == ("127.0.0.1", 8080, 4)
    assert l.recv_queue == 1, "one connection waits in the accept queue"
    assert l.send_queue == 7, "for LISTEN the kernel reports the backlog limit"
    assert l.inode == captured_inodes()["AF_INET/SOCK_STREAM/('127.0.0.1', 8080)"]
    assert l.uid == 0 and l.v6only is None


def test_sock_diag_port_filter_kept_only_local_port_8080():
    rows = netlink.parse_sock_diag(captured_chunks("sock_diag_tcp4_port8080.bin"), "tcp")
    assert {r.port for r in rows} == {8080}, "9090 and the client's ephemeral port are filtered out"
    established = [r for r in rows if r.state == "ESTABLISHED"]
    assert len(established) == 1
    assert established[0].remote_address == "127.0.0.1" and established[0].remote_port != 8080
    assert established[0].inode == 0, "not accepted yet: no file, no inode"


def test_sock_diag_tcp6_v6only_attribute():
    (row,) = netlink.parse_sock_diag(captured_chunks("sock_diag_tcp6_port8080.bin"), "tcp")
    assert (row.address, row.state, row.v6only, row.send_queue) == ("::", "LISTEN", True, 5)


def test_sock_diag_udp_unconnected_is_unconn():
    (u4,) = netlink.parse_sock_diag(captured_chunks("sock_diag_udp4_port8080.bin"), "udp")
    (u6,) = netlink.parse_sock_diag(captured_chunks("sock_diag_udp6_port8080.bin"), "udp")
    assert (u4.address, u4.state, u4.protocol) == ("0.0.0.0", "UNCONN", "udp")
    # V6ONLY was set to 0, but binding a specific IPv6 address makes the kernel set it.
    assert (u6.address, u6.state, u6.v6only) == ("::1", "UNCONN", True)
    assert u6.inode == captured_inodes()["AF_INET6/SOCK_DGRAM/('::1', 8080)"]


def test_port_bytecode_is_ge_and_le_with_reject_jumps():
    code = netlink.port_bytecode(8080)
    ops = [struct.unpack_from("=BBH", code, i) for i in range(0, len(code), 4)]
    assert ops == [(netlink.INET_DIAG_BC_S_GE, 8, 20), (0, 0, 8080), (netlink.INET_DIAG_BC_S_LE, 8, 12), (0, 0, 8080)]


def test_request_layout():
    req = netlink.build_sock_diag_request("tcp", 6, 1 << 10, 443)
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", req)
    assert length == len(req) == 16 + 56 + 4 + 16
    assert kind == netlink.SOCK_DIAG_BY_FAMILY and flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP
    family, proto, _ext, states = struct.unpack_from("=BBBxI", req, 16)
    assert (family, proto, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 1 << 10)


# --- /proc/net parser on the same namespace's files --------------------------------


def test_proc_net_tcp_filters_by_local_port_not_remote():
    rows = sockets.parse_proc_net((FIXTURES / "proc_net_tcp.txt").read_text(), "tcp", 4, port=8080)
    states = sorted((r.state, r.address, r.port) for r in rows)
    assert states == [("ESTABLISHED", "127.0.0.1", 8080), ("LISTEN", "127.0.0.1", 8080)]
    listen = next(r for r in rows if r.state == "LISTEN")
    assert listen.inode == captured_inodes()["AF_INET/SOCK_STREAM/('127.0.0.1', 8080)"]
    assert listen.recv_queue == 1 and listen.send_queue is None


def test_proc_net_tcp6_and_udp6_addresses():
    (t6,) = sockets.parse_proc_net((FIXTURES / "proc_net_tcp6.txt").read_text(), "tcp", 6, port=8080)
    assert (t6.address, t6.state) == ("::", "LISTEN")
    (u6,) = sockets.parse_proc_net((FIXTURES / "proc_net_udp6.txt").read_text(), "udp", 6, port=8080)
    assert (u6.address, u6.state, u6.protocol) == ("::1", "UNCONN", "udp")
    (u4,) = sockets.parse_proc_net((FIXTURES / "proc_net_udp.txt").read_text(), "udp", 4, port=8080)
    assert u4.address == "0.0.0.0"


def test_proc_net_listening_only_every_port():
    rows = sockets.parse_proc_net((FIXTURES / "proc_net_tcp.txt").read_text(), "tcp", 4, listening_only=True)
    assert sorted((r.address, r.port) for r in rows) == [("0.0.0.0", 9090), ("127.0.0.1", 8080)]


def test_proc_net_and_sock_diag_agree_on_the_captured_namespace():
    diag = {(r.address, r.port, r.state, r.inode) for p in ("tcp", "udp") for f in (4, 6)
            for r in netlink.parse_sock_diag(captured_chunks(f"sock_diag_{p}{f}_port8080.bin"), p)}
    proc = {(s.address, s.port, s.state, s.inode or 0) for p, f, name in sockets.PROC_NET_FILES
            for s in sockets.parse_proc_net((FIXTURES / f"proc_net_{name}.txt").read_text(), p, f, port=8080)}
    assert diag == proc


# --- the live kernel ----------------------------------------------------------------


@linux_only
def test_live_port_filter_returns_only_that_port_with_our_pid():
    with socket.socket() as target, socket.socket() as other:
        target.bind(("127.0.0.1", 0))
        target.listen(3)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = target.getsockname()[1]
        snap = Snapshot(port=port)
        sockets.gather_sockets(snap)
        assert [(s.address, s.port, s.state) for s in snap.sockets] == [("127.0.0.1", port, "LISTEN")]
        s = snap.sockets[0]
        assert s.inode == os.fstat(target.fileno()).st_ino
        assert s.pid == os.getpid() and s.process and s.user and s.send_queue == 3
        assert s.cmdline and "pytest" in s.cmdline
        listening = {(a.address, a.port) for a in snap.all_listening}
        assert ("127.0.0.1", port) in listening and ("127.0.0.1", other.getsockname()[1]) in listening


@linux_only
def test_live_sockets_that_do_not_listen_are_read_only_when_asked():
    # The fast path (a refused port, a healthy one) reads LISTEN alone; the connections on
    # the port are the NOT_LISTENING fact, read when a check (port-owner) asks for it.
    from portdoctor.api import NOT_LISTENING

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                snap = Snapshot(port=port)
                sockets.gather_sockets(snap)
                assert [s.state for s in snap.sockets if s.protocol == "tcp"] == ["LISTEN"]
                assert NOT_LISTENING.name not in snap.extras
                others = snap.lazy(NOT_LISTENING.name, NOT_LISTENING.gather)
                assert [(s.state, s.remote_port) for s in others] == [("ESTABLISHED", client.getsockname()[1])]
                assert others[0].pid == os.getpid()


@linux_only
def test_live_proc_fallback_matches_netlink():
    with socket.socket(socket.AF_INET6) as s6:
        s6.bind(("::1", 0))
        s6.listen()
        port = s6.getsockname()[1]
        via_proc = sockets.read_proc_net_port(port)
        via_netlink = sockets._sockets_by_netlink(port)
        assert [(s.address, s.state, s.inode) for s in via_proc] == [(s.address, s.state, s.inode) for s in via_netlink]


@linux_only
def test_find_socket_pids_stops_at_the_wanted_inode_and_reports_nothing_else():
    with socket.socket() as s:
        inode = os.fstat(s.fileno()).st_ino
        found, _denied = sockets.find_socket_pids([inode], pids=[os.getpid()])
        assert found == {inode: os.getpid()}
        assert sockets.find_socket_pids([], pids=[os.getpid()]) == ({}, False)


def test_hidden_owner_keeps_the_socket_with_uid_and_user():
    # The socket's inode is held by no scanned process: it must stay, with its user.
    snap = Snapshot(port=1)
    s = sockets.Socket("tcp", 4, "127.0.0.1", 1, "LISTEN", inode=987654321, uid=0)
    snap.sockets.append(s)
    sockets.resolve_owners(snap.sockets, snap, pids=[])
    assert snap.sockets == [s] and s.pid is None and s.user == "root"
    assert "owners" in snap.visibility


@linux_only
def test_is_privileged_matches_effective_uid_and_capabilities():
    with open("/proc/self/status", encoding="ascii") as status:
        caps = int(next(line for line in status if line.startswith("CapEff:")).split()[1], 16)
    wanted = (1 << sockets.CAP_SYS_PTRACE) | (1 << sockets.CAP_DAC_READ_SEARCH)
    assert sockets.is_privileged() is (os.geteuid() == 0 or caps & wanted == wanted)


@linux_only
@pytest.mark.lab
def test_is_privileged_is_false_for_nobody(lab):
    """As root the run above can only say True; the same call made as nobody must say False."""
    problem = lab.user_problem("nobody")
    if problem:
        pytest.skip(problem)
    child = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
         "import portdoctor.facts.sockets as s; print(s.is_privileged())"],
        capture_output=True, text=True, timeout=30)
    assert (child.returncode, child.stdout.strip()) == (0, "False"), child.stderr


def test_stopped_processes_of_a_user_are_found_from_world_readable_proc_files():
    """The candidates a hidden owner may be (no root): state T from /proc/PID/stat, the uid
    from /proc/PID/status; a command line naming the port as a whole number comes first."""
    import signal
    import subprocess

    from portdoctor.facts.sockets import stopped_processes

    plain = subprocess.Popen(["sleep", "60"])
    naming = subprocess.Popen(["sleep", "7999"])
    try:
        for p in (plain, naming):
            p.send_signal(signal.SIGSTOP)
        for _ in range(100):
            found = {c.pid: c for c in stopped_processes(os.getuid(), 7999)}
            if plain.pid in found and naming.pid in found:
                break
        assert found[naming.pid].names_port and found[naming.pid].state == "T"
        assert not found[plain.pid].names_port and found[plain.pid].process == "sleep"
        ordered = [c.pid for c in stopped_processes(os.getuid(), 7999)]
        assert ordered.index(naming.pid) < ordered.index(plain.pid)
        assert not any(c.names_port for c in stopped_processes(os.getuid(), 799) if c.pid == naming.pid)
        assert naming.pid not in {c.pid for c in stopped_processes(os.getuid() + 12345, 7999)}
    finally:
        for p in (plain, naming):
            p.kill()
            p.wait()


def test_the_both_families_request_is_the_original_inet_diag_form():
    request = netlink.build_tcp_both_families_request(1 << 6, 5432)
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags) == (len(request), netlink.TCPDIAG_GETSOCK, 0x301)
    family, _src, _dst, _ext = struct.unpack_from("=BBBB", request, 16)
    states, _dbs = struct.unpack_from("=II", request, 16 + 4 + 48)
    assert (family, states) == (0, 1 << 6)  # the family is left unset: both, in one walk
    assert request.endswith(netlink.port_bytecode(5432))


@pytest.mark.kernel
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="netlink sock_diag is Linux's")
def test_one_walk_finds_what_two_per_family_dumps_find(free_port):
    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        for s, host in ((v4, "127.0.0.1"), (v6, "::1")):
            s.bind((host, free_port))
            s.listen()
        with socket.create_connection(("127.0.0.1", free_port)), socket.create_connection(("::1", free_port)):
            a4, _ = v4.accept()
            a6, _ = v6.accept()
            with a4, a6:
                for states in (netlink.ALL_STATES, netlink.ALL_STATES & ~(1 << netlink.STATE_LISTEN)):
                    one_walk = netlink.tcp_sock_diag(states=states, port=free_port)
                    per_family = [d for family in (4, 6)
                                  for d in netlink.sock_diag("tcp", family, states=states, port=free_port)]
                    assert sorted(map(repr, one_walk)) == sorted(map(repr, per_family))
                    assert {(d.family, d.state) for d in one_walk} >= {(4, "ESTABLISHED"), (6, "ESTABLISHED")}
