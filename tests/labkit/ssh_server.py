"""One lab SSH server: runs as the first process of its own net/mount/UTS/PID namespaces.

Started by ssh_runner.py with a JSON spec as argv[1]. Waits for "go" on stdin (the
veth peer has been moved in), configures eth0, starts the scenario's listeners and
rules, then hides everything of the project: empty tmpfs over /tmp, /root, /home and
the checkout (and, for a server without Python, an overlay that whites out
/usr/bin/python*), and runs sshd with the lab's host key. Prints "ready", then waits
for stdin to close and kills what it started.
"""

import json
import os
import subprocess
import sys
import time


def sh(line):
    p = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        print(f"setup failed: {line}: {p.stderr.strip()}", flush=True)
        raise SystemExit(1)
    return p.stdout


def write(path, text, mode=0o600):
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def main():
    spec = json.loads(sys.argv[1])
    print("waiting", flush=True)
    sys.stdin.readline()  # "go": eth0 is here
    address = spec["address"]
    sh("ip link set lo up")
    sh("echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null || true")
    sh(f"ip addr add {address}/30 dev eth0 && ip link set eth0 up")
    sh(f"hostname {spec['name']}")
    sh("mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd /run/sshlab")

    procs = []
    for listener in spec["listeners"]:
        listener = dict(listener, address=listener["address"].replace("SERVER", address))
        p = subprocess.Popen([spec["python"], spec["listener"], json.dumps(listener)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline().strip()
        if line != "ready":
            print(f"listener failed: {listener}: {line} {p.stderr.read() if p.poll() is not None else ''}", flush=True)
            raise SystemExit(1)
        procs.append(p)
    for line in spec["setup"]:
        sh(line.replace("SERVER", address))
    if spec["ssh"] == "drop":
        sh("nft add table inet sshlab && nft add chain inet sshlab input '{ type filter hook input priority -10; }' "
           "&& nft add rule inet sshlab input tcp dport 22 drop")

    for folder in ["/tmp", "/root", "/home"] + spec["hide"]:
        if os.path.isdir(folder):
            sh(f"mount -t tmpfs -o mode=0755 tmpfs {folder}")
    if not spec.get("has_python", True):
        # A server without Python: white out every python* in /usr/bin with an overlay.
        sh("mkdir -p /run/sshlab/ovl/upper /run/sshlab/ovl/work")
        for name in os.listdir("/usr/bin"):
            if name.startswith("python"):
                os.mknod(f"/run/sshlab/ovl/upper/{name}", 0o600 | 0o020000, os.makedev(0, 0))
        sh("mount -t overlay overlay -o lowerdir=/usr/bin,upperdir=/run/sshlab/ovl/upper,"
           "workdir=/run/sshlab/ovl/work /usr/bin")

    if spec["ssh"] != "off":
        write("/run/sshlab/host_ed25519", spec["host_key"])
        write("/run/sshlab/authorized_keys", spec["authorized_key"], 0o644)
        write("/run/sshlab/sshd_config", "\n".join([
            f"ListenAddress {address}", "Port 22", "HostKey /run/sshlab/host_ed25519",
            "PidFile /run/sshlab/sshd.pid", "AuthorizedKeysFile /run/sshlab/authorized_keys",
            "UsePAM no", "PermitRootLogin prohibit-password", "StrictModes no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PrintMotd no",
            "AcceptEnv none", "",
        ]), 0o644)
        sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", "/run/sshlab/sshd_config"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(sshd)
        for _ in range(100):
            if os.path.exists("/run/sshlab/sshd.pid"):
                break
            if sshd.poll() is not None:
                print(f"sshd failed: {sshd.stderr.read().decode()[-500:]}", flush=True)
                raise SystemExit(1)
            time.sleep(0.02)
    print("ready", flush=True)
    sys.stdin.read()
    for p in procs:
        p.kill()


if __name__ == "__main__":
    main()
