"""The test suite stays true: no test imports another test module, and the markers say what a test touches."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TEST_MODULES = sorted(TESTS.glob("test_*.py"))


@pytest.mark.parametrize("path", TEST_MODULES, ids=lambda p: p.name)
def test_no_test_module_imports_another(path):
    imported = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
    others = [m for m in imported if m.split(".")[0].startswith("test_") or m in ("conftest",)]
    assert not others, (f"{path.name} imports {others}: shared helpers belong in portdoctor.testing, "
                        "tests/samples.py, tests/runner_model.py or tests/labkit")


def test_every_collected_lab_or_live_port_test_carries_the_kernel_marker(request):
    """``-m "not kernel"`` must leave out whatever touches the live kernel (see conftest)."""
    items = request.session.items
    live = [i for i in items if i.get_closest_marker("lab") or {"lab", "free_port"} & set(i.fixturenames)]
    assert all(i.get_closest_marker("kernel") for i in live), [i.nodeid for i in live if not i.get_closest_marker("kernel")]
    assert request.node.get_closest_marker("kernel") is None, "a pure test is not marked"
