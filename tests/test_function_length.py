"""Functions stay short enough to read: none in portdoctor/ or checks/ grows past 80 lines.

A long function is split into named steps (see the "Code" entries of issue 10 in the
CHANGELOG). A function that has to stay longer for a while is listed in ``ALLOWED`` with
its length as its cap: it may shrink, never grow, and when it is split under the limit
its entry goes (the test says so), so the list only gets shorter. It is empty today.

A function's length runs from its ``def`` line to its last line (decorators left out,
nested functions counted in the function that holds them).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import portdoctor
import portdoctor.checks

LIMIT = 80

# "path:qualified name" -> its length when it was allowed (the cap), e.g.
# "portdoctor/pipeline.py:diagnose": 120 (split in round 4). Empty: no function is over the limit.
ALLOWED: dict[str, int] = {}

PACKAGE_DIR = Path(portdoctor.__file__).resolve().parent
# checks/ in a checkout (portdoctor/checks is a symlink to it), the installed package in an sdist's test run.
CHECKS_DIR = Path(portdoctor.checks.__file__).resolve().parent


def modules() -> dict[str, Path]:
    """Every module of portdoctor/ and checks/, by the path the allowlist uses."""
    found = {}
    for folder, dirs, files in os.walk(PACKAGE_DIR):  # the checks are walked below, symlinked or installed
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and (Path(folder) / d).resolve() != CHECKS_DIR)
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(folder) / name
                found["portdoctor/" + path.relative_to(PACKAGE_DIR).as_posix()] = path
    for path in sorted(CHECKS_DIR.glob("*.py")):
        found[f"checks/{path.name}"] = path
    return found


def function_lengths(source: str) -> list[tuple[str, int]]:
    """(qualified name, lines) of every function in ``source``: ``Class.method``, ``outer.inner``."""
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                out.append((name, (child.end_lineno or child.lineno) - child.lineno + 1))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def lengths() -> dict[str, int]:
    """``path:name`` -> lines, for every function (the longest, where a module defines a name twice)."""
    found: dict[str, int] = {}
    for key, path in modules().items():
        for name, lines in function_lengths(path.read_text(encoding="utf-8")):
            found[f"{key}:{name}"] = max(lines, found.get(f"{key}:{name}", 0))
    return found


def problems(found: dict[str, int], allowed: dict[str, int], limit: int) -> list[str]:
    """What is wrong with ``found`` (``path:name`` -> lines) under ``allowed`` and ``limit``."""
    out = [f"{name} is {lines} lines, over {limit}: split it into named steps"
           for name, lines in sorted(found.items()) if lines > limit and name not in allowed]
    for name, cap in sorted(allowed.items()):
        if name not in found:
            out.append(f"{name} no longer exists: remove it from ALLOWED")
        elif found[name] > cap:
            out.append(f"{name} grew to {found[name]} lines, past its cap of {cap}: split it")
        elif found[name] <= limit:
            out.append(f"{name} is {found[name]} lines, within {limit}: remove it from ALLOWED")
    return out


def test_the_walk_sees_the_core_and_every_built_in_check():
    found = modules()
    assert "portdoctor/pipeline.py" in found and "portdoctor/facts/rules/model.py" in found
    assert "checks/container.py" in found and not any(k.startswith("portdoctor/checks/") for k in found)
    assert ("Outer.method", 4) in function_lengths("class Outer:\n    def method(self):\n        x = 1\n\n        return x\n")


def test_the_rules_an_allowed_function_lives_by():
    allowed = {"a.py:long": 100, "a.py:split": 90, "a.py:gone": 85}
    found = {"a.py:long": 95, "a.py:split": 40, "a.py:new": 81, "a.py:ok": 80}
    assert problems(found, allowed, 80) == [
        "a.py:new is 81 lines, over 80: split it into named steps",
        "a.py:gone no longer exists: remove it from ALLOWED",
        "a.py:split is 40 lines, within 80: remove it from ALLOWED",
    ]
    assert problems({"a.py:long": 101}, {"a.py:long": 100}, 80) == [
        "a.py:long grew to 101 lines, past its cap of 100: split it"]


def test_no_function_in_portdoctor_or_checks_is_too_long():
    found = problems(lengths(), ALLOWED, LIMIT)
    assert not found, "\n".join(found)
