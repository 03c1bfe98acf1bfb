"""The SSH lab's client side: runs as the first process of a private net/mount/PID namespace.

Reads a JSON spec on stdin (see labkit.sshlab.SshLab.run): generates a client key and
one host key per server, starts each server (ssh_server.py) in its own namespaces,
joins it to this namespace with a veth pair (169.254.N.1 here, 169.254.N.2 there, IPv6
off), writes an ssh_config and known_hosts for the client, runs each portdoctor
command, and prints one JSON object with their results.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIENT = "/run/sshclient"


def sh(line):
    p = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise SystemExit(f"setup failed: {line}: {p.stderr.strip()}")
    return p.stdout


def keypair(path):
    sh(f"ssh-keygen -q -t ed25519 -N '' -C lab -f {path}")
    return Path(path).read_text(), Path(path + ".pub").read_text().strip()


def main():
    spec = json.loads(sys.stdin.read())
    started = time.monotonic()
    sh("ip link set lo up")
    sh(f"mount -t tmpfs -o mode=0700 tmpfs /run && mkdir -m 0700 {CLIENT}")
    _, client_pub = keypair(f"{CLIENT}/id_ed25519")
    known = []
    servers = []
    addresses = {}
    try:
        for index, server in enumerate(spec["servers"]):
            name = server["name"]
            address, peer = f"169.254.{10 + index}.2", f"169.254.{10 + index}.1"
            host_private, host_public = keypair(f"{CLIENT}/host_{name}")
            if server.get("known", True):
                known.append(f"{address} {' '.join(host_public.split()[:2])}")
            server_spec = {
                "name": name, "address": address, "listeners": server.get("listeners", []),
                "setup": server.get("setup", []), "ssh": server.get("ssh", "up"),
                "has_python": server.get("python", True), "python": spec["python"],
                "listener": str(HERE / "listener.py"), "hide": spec["hide"],
                "host_key": host_private, "authorized_key": client_pub + "\n",
            }
            p = subprocess.Popen(
                ["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--mount-proc",
                 "--propagation", "private", "--", spec["python"], str(HERE / "ssh_server.py"), json.dumps(server_spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            servers.append(p)
            if p.stdout.readline().strip() != "waiting":  # its namespaces exist now
                raise SystemExit(f"server {name} did not start")
            veth = f"pd{index}"
            sh(f"ip link add {veth} type veth peer name eth0 netns {p.pid}")
            sh(f"echo 1 > /proc/sys/net/ipv6/conf/{veth}/disable_ipv6")
            sh(f"ip addr add {peer}/30 dev {veth} && ip link set {veth} up")
            p.stdin.write("go\n")
            p.stdin.flush()
            addresses[name] = address
        for p in servers:
            line = p.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"server failed: {line}")
        Path(f"{CLIENT}/known_hosts").write_text("\n".join(known) + "\n")
        Path(f"{CLIENT}/config").write_text("\n".join([
            "Host *", f"  IdentityFile {CLIENT}/id_ed25519", "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {CLIENT}/known_hosts", "  GlobalKnownHostsFile /dev/null",
            "  User root", "",
        ]))
        build = time.monotonic() - started

        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        env.update(NO_COLOR="1", CI="true")
        results = []
        for run in spec["runs"]:
            argv = [a.format(**addresses, config=f"{CLIENT}/config") for a in run]
            if argv and argv[0] == "ssh":  # a raw ssh command, to prove the setup
                argv = ["ssh", "-F", f"{CLIENT}/config", "-o", "BatchMode=yes"] + argv[1:]
            else:
                # Its own PID namespace: like a real client, it does not see the servers' processes.
                argv = ["unshare", "--pid", "--fork", "--mount-proc", "--", spec["python"], "-m", "portdoctor"] + argv
            start = time.monotonic()
            try:
                p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=spec["timeout"], cwd="/")
                rc, out, err = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired as exc:
                rc, out, err = -9, str(exc.stdout or ""), f"did not finish within {spec['timeout']} s"
            results.append({"returncode": rc, "stdout": out, "stderr": err, "elapsed": time.monotonic() - start})
    finally:
        for p in servers:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in servers:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    print(json.dumps({"build": build, "addresses": addresses, "results": results}))


if __name__ == "__main__":
    main()
