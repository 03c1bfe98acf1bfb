"""The container lab: a real Docker engine in a private network + mount + PID namespace.

:class:`DockerLab` starts ``dockerd`` as described in the project's lab notes (never in
the host's namespaces): ``labkit/docker_holder.py`` runs as PID 1 of
``unshare --net --mount --pid --fork --mount-proc --propagation private``, and every
command of a scenario (``docker run ...``, ``portdoctor --report ...``) enters that
namespace with ``nsenter``. One daemon serves a whole test module; scenarios remove
their containers. :meth:`DockerLab.close` removes every container, stops the daemon and
removes the cgroup folders the engine left behind. :func:`docker_unavailable` says why
the lab cannot run here (tests skip with it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit import LabResult, unavailable_reason

HERE = Path(__file__).resolve().parent
HOLDER = HERE / "docker_holder.py"
IMAGE = "pdlab"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _dockerd() -> str | None:
    return shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)


def docker_unavailable(engine: str = "docker") -> str | None:
    """Why a Docker engine cannot run in the lab here, or None."""
    reason = unavailable_reason()
    if reason:
        return reason
    if engine == "docker" and not _dockerd():
        return "the container lab needs dockerd (Debian: apt-get install docker.io)"
    if engine == "podman" and not shutil.which("podman"):
        return "the Podman lab needs podman (Debian: apt-get install podman)"
    if not os.path.exists("/bin/busybox"):
        return "the container lab needs /bin/busybox for its image (Debian: apt-get install busybox-static)"
    return None


def _cgroup_folders(name: str = "docker") -> set[Path]:
    """Every cgroup folder called ``name`` at the top of each hierarchy."""
    out = set()
    try:
        hierarchies = [p for p in CGROUP_ROOT.iterdir() if p.is_dir()]
    except OSError:
        return out
    for h in hierarchies + [CGROUP_ROOT]:
        if (h / name).is_dir():
            out.add(h / name)
    return out


class DockerLab:
    """One dockerd in its own namespaces. ``userland_proxy=False`` runs it with DNAT only;
    ``engine="podman"`` runs Podman's Docker-compatible API service instead."""

    def __init__(self, python: str = sys.executable, userland_proxy: bool = True, engine: str = "docker"):
        from labkit.docker_holder import podman_cli

        self.python = python
        self.userland_proxy = userland_proxy
        self.engine = engine
        self.base = tempfile.mkdtemp(prefix="pdk", dir="/tmp")  # short: socket paths < 108 bytes
        self.cli = " ".join(podman_cli(self.base)) if engine == "podman" else "/usr/bin/docker"
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")  # /usr/bin/docker matches the daemon
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
             "--", self.python, str(HOLDER), self.base, "/docker", "true" if userland_proxy else "false", engine],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.holder.stdout.readline().strip()
        if line != "ready":
            err = self.holder.stderr.read() if self.holder.poll() is not None else ""
            self.close()
            raise RuntimeError(line or f"the engine did not start: {err.strip()[-500:]}")
        self.pid = self._namespace_pid()

    def _namespace_pid(self) -> int:
        """The host pid of the namespace's PID 1 (the child unshare forked)."""
        children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text().split()
        return int(children[0])

    # --- running things inside ----------------------------------------------------
    def enter(self, argv: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "--net", "--mount", "--pid", "--"] + argv

    def sh(self, line: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell line inside the lab namespace."""
        env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
        p = subprocess.run(self.enter(["sh", "-c", line]), capture_output=True, text=True,
                           timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise RuntimeError(f"lab: {line}: {p.returncode} {p.stderr.strip()}")
        return p

    def docker(self, args: str, check: bool = True) -> str:
        """``docker ARGS`` (or ``podman ARGS``; a shell-quoted string) inside the lab; its stdout."""
        return self.sh(f"{self.cli} {args}", check=check).stdout.strip()

    def run_container(self, name: str, args: str = "", command: str = "", *, wait_listen: str | None = None,
                      labels: dict[str, str] | None = None) -> str:
        """``docker run -d --name NAME ARGS pdlab COMMAND``; waits until ``wait_listen`` (e.g. ":80")
        shows in the container's listeners. Returns the container id."""
        label_args = " ".join(f"--label {k}={v}" for k, v in (labels or {}).items())
        cid = self.docker(f"run -d --pull never --name {name} {label_args} {args} {IMAGE} {command}")
        if wait_listen:
            self._wait_listen(name, wait_listen)
        return cid

    def run_containers(self, specs: list[dict]) -> None:
        """Start several containers at once (``docker run`` in parallel), then wait for each
        spec's ``wait_listen``. A spec holds :meth:`run_container`'s arguments."""
        lines = []
        for spec in specs:
            label_args = " ".join(f"--label {k}={v}" for k, v in (spec.get("labels") or {}).items())
            lines.append(f"{self.cli} run -d --pull never --name {spec['name']} {label_args} "
                         f"{spec.get('args', '')} {IMAGE} {spec.get('command', '')} >/dev/null &")
        self.sh("\n".join(lines) + "\nfail=0; for job in $(jobs -p); do wait $job || fail=1; done; exit $fail")
        for spec in specs:
            if spec.get("wait_listen"):
                self._wait_listen(spec["name"], spec["wait_listen"])

    def _wait_listen(self, name: str, where: str) -> None:
        self.sh(f"for i in $(seq 50); do nsenter -t $({self.cli} inspect -f '{{{{.State.Pid}}}}' {name}) -n "
                f"cat /proc/net/tcp /proc/net/tcp6 | grep -qi ':{int(where.split(':')[-1]):04X} .* 0A ' "
                f"&& exit 0; sleep 0.1; done; exit 1")

    def wait_state(self, name: str, state: str, tries: int = 100) -> None:
        self.sh(f"for i in $(seq {tries}); do [ \"$({self.cli} inspect -f '{{{{.State.Status}}}}' {name})\" = {state} ] "
                f"&& exit 0; sleep 0.1; done; exit 1")

    def remove(self, *names: str) -> None:
        if names:
            self.docker("rm -f " + " ".join(names), check=False)

    def portdoctor(self, args: list[str], *, env: dict[str, str] | None = None, user: str | None = None,
                   timeout: float = 60) -> LabResult:
        """``portdoctor --report --format json ARGS`` inside the lab namespace."""
        import time

        run_env = dict(os.environ, NO_COLOR="1", CI="true")
        run_env.update(env or {})
        argv = [self.python, "-m", "portdoctor", "--report", "--format", "json"] + list(args)
        if user:
            argv = ["setpriv", "--reuid", user, "--regid", "nogroup" if user == "nobody" else user,
                    "--clear-groups", "--"] + argv
        start = time.monotonic()
        p = subprocess.run(self.enter(argv), capture_output=True, text=True, env=run_env, timeout=timeout, cwd="/")
        return LabResult(p.returncode, p.stdout, p.stderr, time.monotonic() - start)

    # --- teardown -----------------------------------------------------------------
    def close(self) -> None:
        ours = set()
        if self.holder.poll() is None:
            ours = set(self.sh(f"{self.cli} ps -aq --no-trunc", check=False).stdout.split())
            try:
                self.holder.stdin.close()
                self.holder.wait(timeout=40)
            except (OSError, subprocess.TimeoutExpired):
                self.holder.kill()
                self.holder.wait(timeout=10)
        # The engine leaves empty cgroup folders in every hierarchy (mount namespaces do not
        # hide cgroups): remove our containers' folders, then the engine's top folder when it
        # is empty. rmdir fails on a cgroup still in use or not empty, so another engine's
        # (another test run's) folders are never taken away from it.
        for folder in _cgroup_folders() | _cgroup_folders("libpod_parent"):
            for sub in folder.iterdir():
                if sub.is_dir() and (sub.name == "conmon" or any(cid in sub.name for cid in ours)):
                    _remove_cgroup_tree(sub)
            try:
                folder.rmdir()
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


def _remove_cgroup_tree(folder: Path) -> None:
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError:
        pass


def inspect_json(lab: DockerLab, name: str) -> dict:
    return json.loads(lab.docker(f"inspect {name}"))[0]


def portdoctor_mounts(python: str = sys.executable) -> str:
    """``docker run`` volume options that let the lab image run this checkout's portdoctor:
    the interpreter and its standard library, the virtual environment, the checkout,
    and the host's shared libraries (read-only)."""
    real = os.path.realpath(python)
    checkout = str(HERE.parent.parent)
    paths = {sys.base_prefix, sys.prefix, checkout, os.path.dirname(real)}
    mounts = [f"-v {p}:{p}:ro" for p in sorted(paths) if not p.startswith("/usr")]
    mounts += ["-v /usr:/usr:ro", f"-v {os.path.realpath('/lib')}:/lib:ro", f"-v {os.path.realpath('/lib64')}:/lib64:ro"]
    return " ".join(mounts)
