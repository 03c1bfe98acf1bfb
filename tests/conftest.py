"""Shared fixtures: the scenario lab, free ports, fixture snapshots."""

from __future__ import annotations

import pytest

from labkit import Lab, unavailable_reason
from portdoctor.testing import free_ports

# Fixtures that mean the test uses the live kernel (a real socket, a namespace).
_KERNEL_FIXTURES = {"lab", "free_port", "tui_lab"}


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
