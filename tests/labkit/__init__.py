"""The scenario lab: real broken setups in private network namespaces.

``Lab.run(...)`` starts a fresh network namespace (``unshare --net``, with its own PID
and mount namespaces so that only the scenario's processes are visible), brings up
loopback, runs setup commands (nft/iptables rules, addresses), starts real listener
processes (optionally in a second namespace, or as another user), then runs
``python -m portdoctor`` inside it and returns its exit code, stdout, stderr and
parsed JSON. Nothing touches the host's network. See tests/conftest.py for the
``lab`` fixture, which skips with a reason where namespaces are unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
LISTENER = HERE / "listener.py"


@dataclass
class Listener:
    """A real listening process started inside the lab namespace.

    name: the process name (comm) it shows, e.g. "postgres".
    netns: None for the lab's namespace, or a label: listeners with the same label
           share one further namespace nested in the lab ("a container").
    user: run as this user (e.g. "nobody") instead of root.
    delay: seconds to wait before binding (a service that comes up late).
    accept: False to never accept (with backlog and fill: a full accept queue).
    """

    address: str
    port: int
    protocol: str = "tcp"  # "tcp" | "udp" | "unix" (address is then a socket path)
    name: str = "fakesvc"
    v6only: bool | None = None
    backlog: int = 128
    accept: bool = True
    fill: int = 0  # client connections the listener opens to itself (to fill the queue)
    delay: float = 0.0
    user: str | None = None
    netns: str | None = None
    expect_fail: bool = False  # binding is expected to fail (e.g. privileged port as nobody)
    linger: bool = False  # after a failed bind, keep running (a service that logs the error and retries)
    reply: bool = True  # UDP: answer each datagram with "pong"; False stays silent
    extra_args: list[str] = field(default_factory=list)  # appended to its command line (/proc/PID/cmdline)
    stop: bool = False  # SIGSTOP it once it is ready (state T: a stopped or debugged service)
    unix_mode: int | None = None  # "unix": chmod the socket file after binding (e.g. 0o660)
    unix_group: int | None = None  # "unix": chown the socket file to this gid after binding

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LabResult:
    returncode: int
    stdout: str
    stderr: str
    elapsed: float
    setup_log: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        """The parsed report, validated against portdoctor's JSON Schema (every scenario)."""
        document = json.loads(self.stdout)
        validate_report(document)
        return document

    @property
    def cause(self) -> str:
        return self.json["verdict"]["cause"]

    def finding(self, check: str) -> dict:
        for f in self.json["findings"]:
            if f["check"] == check:
                return f
        raise KeyError(f"no finding from {check!r}: {[f['check'] for f in self.json['findings']]}")


def validate_report(document: Any) -> None:
    """Raise jsonschema.ValidationError unless ``document`` matches report.schema.json."""
    import jsonschema

    from portdoctor.cli import schema_text

    jsonschema.Draft202012Validator(json.loads(schema_text())).validate(document)


def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None if it can."""
    if sys.platform != "linux":
        return "the scenario lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the scenario lab needs root (unshare --net); run the tests as root"
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "the scenario lab needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare --net is not permitted here: {probe.stderr.strip()}"
    return None


# A fresh network namespace, with its own PID and mount namespaces (only the scenario's
# processes are visible; when the first process exits the kernel kills the rest).
ISOLATED = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--"]


def run_isolated(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` in a fresh lab namespace (:data:`ISOLATED`); ``kwargs`` go to subprocess.run."""
    return subprocess.run([*ISOLATED, *argv], **kwargs)


class Lab:
    """Runs scenarios. One instance per test session is enough."""

    def __init__(self, python: str = sys.executable):
        self.python = python
        self._user_problems: dict[str, str | None] = {}

    def user_problem(self, user: str) -> str | None:
        """Why ``user`` cannot run portdoctor and the lab's listener from here, or None.

        A checkout inside a folder only root may enter (``mktemp -d`` makes 0700 folders)
        is invisible to "nobody"; .ci/run makes the checkout's parents traversable.
        """
        if user not in self._user_problems:
            probe = subprocess.run(
                ["setpriv", "--reuid", user, "--regid", "nogroup" if user == "nobody" else user,
                 "--clear-groups", "--", self.python, "-c",
                 f"import portdoctor; open({str(LISTENER)!r}).close()"],
                capture_output=True, text=True, timeout=30,
            )
            self._user_problems[user] = None if probe.returncode == 0 else (
                f"user {user!r} cannot run portdoctor from this checkout "
                f"({(probe.stderr.strip().splitlines() or ['?'])[-1]}); make its parent folders "
                f"traversable (chmod o+x) or run .ci/run, which does")
        return self._user_problems[user]

    def run(
        self,
        args: list[str],
        *,
        listeners: list[Listener] = (),
        setup: list[str] = (),
        user: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
        json_report: bool = True,
        hosts: str | None = None,
        own_pid_namespace: bool = False,
    ) -> LabResult:
        """Run ``portdoctor ARGS`` in a fresh namespace after ``setup`` (shell lines) and listeners.

        With ``json_report`` (default), ``--report --format json`` is prepended.
        ``user`` runs portdoctor as that user (e.g. "nobody") instead of root.
        ``hosts``: the text of an /etc/hosts for the scenario (bind-mounted in a private
        mount namespace, so the host's file is untouched), e.g. "::1 localhost" first.
        ``own_pid_namespace``: portdoctor runs in a PID namespace of its own (as in a
        container sharing the network), so even as root it cannot see the listeners' owners.
        """
        for who in {user, *(l.user for l in listeners)} - {None}:
            problem = self.user_problem(who)
            if problem:
                import pytest

                pytest.skip(problem)
        argv = (["--report", "--format", "json"] if json_report else []) + list(args)
        spec = {
            "python": self.python,
            "portdoctor": argv,
            "listeners": [l.to_dict() for l in listeners],
            "setup": list(setup),
            "user": user,
            "env": env or {},
            "timeout": timeout,
            "hosts": hosts,
            "own_pid_namespace": own_pid_namespace,
        }
        # A private PID namespace too: portdoctor (as root) inspects every network
        # namespace it can see through /proc, so the scenario must see only its own
        # processes; and when the runner exits, the kernel kills everything it started.
        proc = run_isolated([self.python, str(RUNNER)], input=json.dumps(spec), capture_output=True, text=True,
                            timeout=timeout + 30)
        if proc.returncode != 0:
            raise RuntimeError(f"lab runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
        out = json.loads(proc.stdout)
        return LabResult(out["returncode"], out["stdout"], out["stderr"], out["elapsed"], out["setup_log"])
