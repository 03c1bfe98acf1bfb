"""PID 1 of a private network + mount + PID namespace that runs a real Docker engine.

Started by :class:`labkit.docker.DockerLab` as
``unshare --net --mount --pid --fork --mount-proc --propagation private -- python3 THIS DIR CGROUP PROXY ENGINE``.
Inside, it makes the namespace livable for dockerd without touching the host
(loopback up, a tmpfs on /run, a scratch folder on /etc/docker, an overlay on /opt),
starts ``dockerd`` with every path under DIR and its cgroups under CGROUP, imports a
registry-free busybox image (or, with ENGINE "podman", runs Podman's Docker-compatible
API service instead), prints ``ready`` (or ``failed: WHY``) and waits. On
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


def podman_cli(base: str) -> list[str]:
    """Podman with all its state under ``base`` and no systemd (cgroupfs, file events)."""
    return ["podman", "--root", f"{base}/proot", "--runroot", f"{base}/prun", "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]


def wait_socket(daemon: subprocess.Popen, path: str, ping: list[str], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"{ping[0]} exited ({daemon.returncode}); see {base}/dockerd.log")
        if os.path.exists(path) and sh(ping, 10).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{ping[0]} did not answer within 30 s")


def import_image(cli: list[str]) -> None:
    p = subprocess.run([*cli, "import", "-c", 'CMD ["httpd","-f","-p","80","-h","/www"]', "-", IMAGE],
                       input=busybox_image_tar(), capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"{cli[0]} import: {p.stderr.decode(errors='replace').strip()}")


def start_engine(engine: str, cli: list[str], base: str, cgroup_parent: str, userland_proxy: str) -> subprocess.Popen:
    """Start dockerd, or Podman's Docker-compatible API service, and import the lab image."""
    log = open(f"{base}/dockerd.log", "w")  # noqa: SIM115 - open for the daemon's whole life
    if engine == "podman":
        os.makedirs("/run/podman", exist_ok=True)
        import_image(cli)  # Podman needs no daemon for that
        daemon = subprocess.Popen([*cli, "system", "service", "--time=0", "unix:///run/podman/podman.sock"],
                                  stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_socket(daemon, "/run/podman/podman.sock", [*cli, "info", "--format", "{{.Host.Arch}}"], base)
        return daemon
    daemon = subprocess.Popen(
        ["dockerd", "--data-root", f"{base}/d", "--exec-root", f"{base}/e",
         "--pidfile", f"{base}/p", "-H", "unix:///run/docker.sock",
         "--storage-driver", "overlay2", "--shutdown-timeout", "1",
         "--cgroup-parent", cgroup_parent, f"--userland-proxy={userland_proxy}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    wait_socket(daemon, "/run/docker.sock", [DOCKER, "info", "--format", "{{.ID}}"], base)
    import_image(cli)
    return daemon


def main() -> None:
    base, cgroup_parent = sys.argv[1], sys.argv[2]
    userland_proxy = sys.argv[3] if len(sys.argv) > 3 else "true"
    engine = sys.argv[4] if len(sys.argv) > 4 else "docker"
    cli = podman_cli(base) if engine == "podman" else [DOCKER]
    dockerd = None

    def teardown(*_args) -> None:
        if dockerd is not None and dockerd.poll() is None:
            ids = sh([*cli, "ps", "-aq"], timeout=10).stdout.split()
            if ids:
                sh([*cli, "rm", "-f", *(["-t", "0"] if engine == "podman" else []), *ids], timeout=30)
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
        dockerd = start_engine(engine, cli, base, cgroup_parent, userland_proxy)
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
