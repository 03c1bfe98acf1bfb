"""Shared fixtures: the scenario lab, free ports, fixture snapshots."""

from __future__ import annotations

import socket

import pytest

from labkit import Lab, unavailable_reason


@pytest.fixture(scope="session")
def lab() -> Lab:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    return Lab()


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing on this machine listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
