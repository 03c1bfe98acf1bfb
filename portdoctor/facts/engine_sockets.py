"""Where a container engine's API socket is on this machine: ``stat`` calls only.

The container check asks this on every local diagnosis (``portdoctor.api.ENGINE_SOCKETS``)
to stay out of the report where no engine runs; the engine client itself
(:mod:`portdoctor.facts.engine`) is imported only when there is one to ask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any


def engine_sockets(environ: Mapping[str, str]) -> list[str]:
    """Engine sockets that exist on this machine, most specific first (only ``stat`` calls)."""
    candidates: list[str] = []
    for var in ("DOCKER_HOST", "CONTAINER_HOST"):
        value = environ.get(var, "")
        if value.startswith("unix://"):
            candidates.append(value[len("unix://"):])
    runtime = environ.get("XDG_RUNTIME_DIR")
    candidates += ["/var/run/docker.sock", "/run/docker.sock"]
    if runtime:
        candidates += [f"{runtime}/docker.sock", f"{runtime}/podman/podman.sock"]
    candidates.append("/run/podman/podman.sock")
    home = environ.get("HOME")
    if home:
        candidates.append(f"{home}/.docker/run/docker.sock")  # Docker Desktop for Linux
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for path in candidates:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        key = (st.st_dev, st.st_ino)
        if key not in seen:  # /run/docker.sock and /var/run/docker.sock are one socket
            seen.add(key)
            found.append(path)
    return found


def gather_engine_sockets(snap: Any) -> list[str]:
    """The ``ENGINE_SOCKETS`` lazy fact: :func:`engine_sockets` for the snapshot's environment."""
    return engine_sockets(snap.environ)
