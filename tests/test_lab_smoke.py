"""The lab itself works: a refused port and a listening one, for real."""

import pytest

from labkit import Listener

pytestmark = pytest.mark.lab


def test_lab_healthy_listener(lab):
    r = lab.run(["127.0.0.1:8080"], listeners=[Listener("127.0.0.1", 8080)])
    assert r.returncode == 0, r.stderr
    assert r.cause == "ok"


def test_lab_nothing_listening(lab):
    r = lab.run(["127.0.0.1:8080"])
    assert r.returncode == 1, r.stderr
    assert r.cause == "not-listening"
