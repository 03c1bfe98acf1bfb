"""PID 1 of a private network + mount + PID namespace that runs a real Docker engine.

Started by :class:`labkit.docker.DockerLab` as
``unshare --net --mount --pid --fork --mount-proc --propagation private -- python3 THIS DIR CGROUP``.
Inside, it makes the namespace livable for dockerd without touching the host
(loopback up, a tmpfs on /run, a scratch folder on /etc/docker, an overlay on /opt),
starts ``dockerd`` with every path under DIR and its cgroups under CGROUP, imports a
registry-free busybox image, prints ``ready`` (or ``failed: WHY``) and waits. On
SIGTERM, or when stdin closes, it removes every container, stops dockerd and exits;
the kernel then ends whatever is left in the PID namespace.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time

DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
IMAGE = "pdlab"
BUSYBOX = "/bin/busybox"


def sh(argv: list[str], timeout: float = 30, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def must(argv: list[str], timeout: float = 30) -> None:
    p = sh(argv, timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip() or p.stdout.strip()}")


def busybox_image_tar() -> bytes:
    """A tar of a minimal root: busybox, its applets as symlinks, /etc/passwd, /tmp."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def folder(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def text(name: str, body: str) -> None:
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        for name in ("bin", "etc", "www", "proc", "sys", "dev", "usr", "lib", "lib64"):
            folder(name)
        folder("tmp", 0o1777)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in ("sh", "httpd", "nc", "sleep", "cat", "ls", "ip", "netstat", "true", "false"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        text("etc/passwd", "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        text("etc/group", "root:x:0:\nnogroup:x:65534:\n")
        text("www/index.html", "hello from the portdoctor lab\n")
    return buf.getvalue()


def main() -> None:
    base, cgroup_parent = sys.argv[1], sys.argv[2]
    userland_proxy = sys.argv[3] if len(sys.argv) > 3 else "true"
    dockerd = None

    def teardown(*_args) -> None:
        if dockerd is not None and dockerd.poll() is None:
            ids = sh([DOCKER, "ps", "-aq"], timeout=10).stdout.split()
            if ids:
                sh([DOCKER, "rm", "-f", *ids], timeout=30)
            dockerd.terminate()
            try:
                dockerd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dockerd.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, teardown)
    try:
        must(["ip", "link", "set", "lo", "up"])
        must(["mount", "-t", "tmpfs", "tmpfs", "/run"])
        os.makedirs(f"{base}/etc", exist_ok=True)
        must(["mount", "--bind", f"{base}/etc", "/etc/docker"] if os.path.isdir("/etc/docker")
             else ["true"])
        for sub in ("opt-up", "opt-work"):
            os.makedirs(f"{base}/{sub}", exist_ok=True)
        must(["mount", "-t", "overlay", "overlay", "-o",
              f"lowerdir=/opt,upperdir={base}/opt-up,workdir={base}/opt-work", "/opt"])
        log = open(f"{base}/dockerd.log", "w")  # noqa: SIM115 - open for the daemon's whole life
        dockerd = subprocess.Popen(
            ["dockerd", "--data-root", f"{base}/d", "--exec-root", f"{base}/e",
             "--pidfile", f"{base}/p", "-H", "unix:///run/docker.sock",
             "--storage-driver", "overlay2", "--shutdown-timeout", "1",
             "--cgroup-parent", cgroup_parent, f"--userland-proxy={userland_proxy}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if dockerd.poll() is not None:
                raise RuntimeError(f"dockerd exited ({dockerd.returncode}); see {base}/dockerd.log")
            if os.path.exists("/run/docker.sock") and sh([DOCKER, "info", "--format", "{{.ID}}"], 10).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("dockerd did not answer within 30 s")
        p = subprocess.run([DOCKER, "import", "-c", 'CMD ["httpd","-f","-p","80","-h","/www"]', "-", IMAGE],
                           input=busybox_image_tar(), capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"docker import: {p.stderr.decode(errors='replace').strip()}")
    except Exception as exc:  # noqa: BLE001 - reported to the test, which skips with it
        print(f"failed: {exc}", flush=True)
        teardown()
    print("ready", flush=True)
    # Stay until the lab closes our stdin or sends SIGTERM.
    threading.Thread(target=lambda: (sys.stdin.read(), teardown()), daemon=True).start()
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
