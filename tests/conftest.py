"""Shared fixtures: the scenario lab, free ports, fixture snapshots."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from labkit import Lab, unavailable_reason
from portdoctor.testing import free_ports

# Fixtures that mean the test uses the live kernel (a real socket, a namespace).
_KERNEL_FIXTURES = {"lab", "free_port", "tui_lab"}


def _trusted_temp_root() -> Path | None:
    """As root, a private folder for the run's temp files whose every parent only root can
    write (root's home), or None. Plugin trust refuses drop-in folders below a
    world-writable parent, the sticky /tmp included (as OpenSSH's StrictModes), so the
    tests that load plugins as root need their tmp_path outside /tmp."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    home = Path(pwd.getpwuid(0).pw_dir)
    try:
        if any(os.stat(p).st_uid != 0 or os.stat(p).st_mode & 0o022 for p in [home, *home.parents]):
            return None
        cache = home / ".cache"
        cache.mkdir(mode=0o700, exist_ok=True)
        if os.stat(cache).st_uid != 0 or stat.S_IMODE(os.stat(cache).st_mode) & 0o022:
            return None
        return Path(tempfile.mkdtemp(prefix="pdt-", dir=cache))
    except OSError:
        return None


def pytest_configure(config):
    if config.option.basetemp is None:
        root = _trusted_temp_root()
        if root is not None:
            config.option.basetemp = str(root)
            config._portdoctor_temp_root = root  # removed at the end of the run


def pytest_unconfigure(config):
    root = getattr(config, "_portdoctor_temp_root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Mark every test that touches the live kernel ``kernel`` (``-m "not kernel"`` runs the
    pure ones): lab tests, and tests that take a real port from the host."""
    for item in items:
        if item.get_closest_marker("lab") or _KERNEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(scope="session")
def lab() -> Lab:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return Lab()


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing on this machine listens on right now."""
    return free_ports(1)[0]
