"""Runs inside a fresh network namespace: set up, start listeners, run portdoctor.

Reads a JSON spec on stdin (see labkit.Lab.run), prints one JSON object on stdout.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # run as a script: the shared in-namespace helpers sit next to it

from inside import as_user, listener_argv  # noqa: E402
from inside import sh as run_setup  # noqa: E402


def main():
    spec = json.loads(sys.stdin.read())
    log = []

    def sh(line):
        try:
            run_setup(line, log)
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None

    sh("ip link set lo up")
    if spec.get("hosts"):  # a private mount namespace (see Lab.run): the host's file is untouched
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False) as f:
            f.write(spec["hosts"])
        os.chmod(f.name, 0o644)
        sh(f"mount --bind {f.name} /etc/hosts")
        os.unlink(f.name)  # the bind mount keeps the file alive for this namespace
    for line in spec["setup"]:
        sh(line)

    procs = []
    namespaces = {}  # label -> pid of a holder process in that nested namespace
    try:
        for l in spec["listeners"]:
            argv = listener_argv(l, spec["python"])
            argv = as_user(l.get("user"), argv)
            if l.get("netns"):
                label = l["netns"]
                if label not in namespaces:
                    holder = subprocess.Popen(
                        ["unshare", "--net", "sh", "-c", "ip link set lo up; exec sleep 3600"])
                    procs.append(holder)
                    time.sleep(0.2)
                    namespaces[label] = holder.pid
                argv = ["nsenter", f"--net=/proc/{namespaces[label]}/ns/net", "--"] + argv
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(p)
            if l.get("delay", 0) == 0:
                line = p.stdout.readline().strip()
                log.append(f"listener {l['name']} {l['address']}:{l['port']}: {line or p.stderr.read()}")
                if line != "ready" and not l.get("expect_fail"):
                    raise SystemExit(f"listener failed: {l}: {line} {p.stderr.read() if p.poll() is not None else ''}")
                if l.get("stop"):
                    p.send_signal(signal.SIGSTOP)

        env = dict(os.environ)
        env.update(spec["env"])
        env.setdefault("NO_COLOR", "1")
        env["CI"] = "true"
        argv = as_user(spec["user"], [spec["python"], "-m", "portdoctor"] + spec["portdoctor"])
        if spec.get("own_pid_namespace"):  # a container sharing the network: the owners are invisible
            argv = ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--"] + argv
        start = time.monotonic()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=spec["timeout"],
                               cwd="/")
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out, err = -9, exc.stdout or "", f"portdoctor did not finish within {spec['timeout']} s"
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=5)
            except Exception:  # noqa: BLE001 (best-effort cleanup)
                pass
    print(json.dumps({"returncode": rc, "stdout": out if isinstance(out, str) else out.decode(),
                      "stderr": err if isinstance(err, str) else err.decode(),
                      "elapsed": elapsed, "setup_log": log}))


if __name__ == "__main__":
    main()
