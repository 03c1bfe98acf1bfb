"""The check API tells the truth: built-in checks use only ``portdoctor.api``, and each is registered.

``checks/__init__.py`` says the built-ins are written against the public API exactly as
a third-party check would be; these tests keep that true as checks are added.
"""

from __future__ import annotations

import ast
import inspect
import sys
import warnings
from pathlib import Path

import pytest

import portdoctor.checks
from portdoctor.api import Check, Context, Fact, Snapshot
from portdoctor.testing import context

ROOT = Path(__file__).resolve().parent.parent
# The built-in checks wherever portdoctor.checks is imported from: checks/ in a checkout,
# the installed package when the tests run from an unpacked sdist (CI's second leg).
CHECKS_DIR = Path(portdoctor.checks.__file__).resolve().parent
CHECKS = sorted(p for p in CHECKS_DIR.glob("*.py") if p.name != "__init__.py")


def portdoctor_imports(path: Path) -> list[tuple[int, str]]:
    """Every import of a portdoctor module in ``path`` (at any depth), as (line, module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "portdoctor"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # "from . import x", "from .firewall import y": another check
                found.append((node.lineno, "." * node.level + (node.module or "")))
            elif node.module and node.module.split(".")[0] == "portdoctor":
                if node.module == "portdoctor":  # "from portdoctor import facts"
                    found += [(node.lineno, f"portdoctor.{a.name}") for a in node.names]
                else:
                    found.append((node.lineno, node.module))
    return found


def test_the_checks_folder_is_found():
    assert len(CHECKS) >= 10, CHECKS


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: p.name)
def test_a_built_in_check_imports_nothing_from_portdoctor_but_the_api(path):
    reaching = [f"{path.name}:{line} imports {module}" for line, module in portdoctor_imports(path)
                if module != "portdoctor.api"]
    assert not reaching, ("built-in checks use only portdoctor.api (add what they need there): "
                          + "; ".join(reaching))


def test_the_boundary_test_catches_every_way_of_reaching_past_the_api(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from portdoctor.api import Check\n"
        "import portdoctor.facts.firewall\n"
        "from portdoctor import resolve\n"
        "from .firewall import FirewallCheck\n"
        "def run():\n    from portdoctor.facts.routes import lazy_route\n"
    )
    modules = [m for _, m in portdoctor_imports(bad) if m != "portdoctor.api"]
    assert modules == ["portdoctor.facts.firewall", "portdoctor.resolve", ".firewall", "portdoctor.facts.routes"]


def _registered() -> dict[str, str]:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["entry-points"]["portdoctor.checks"]


def test_every_built_in_check_is_registered_as_an_entry_point():
    registered = set(_registered().values())
    missing = []
    for path in CHECKS:
        module = __import__(f"portdoctor.checks.{path.stem}", fromlist=["_"])
        for name, cls in inspect.getmembers(module, inspect.isclass):
            is_check = issubclass(cls, Check) and cls is not Check and cls.__module__ == module.__name__
            if is_check and cls.name and f"{module.__name__}:{name}" not in registered:
                missing.append(f"{module.__name__}:{name}")
    assert not missing, f"not in pyproject.toml [project.entry-points.\"portdoctor.checks\"]: {missing}"


def test_every_entry_point_names_a_check_whose_name_matches():
    for key, value in _registered().items():
        module, _, attr = value.partition(":")
        cls = getattr(__import__(module, fromlist=["_"]), attr)
        assert issubclass(cls, Check) and cls.name == key, value


class _Legacy(Check):
    name = "legacy"
    title = "Old style?"

    def run(self, ctx: Context):
        return self.passed("fine", pid=1)


class _Explicit(Check):
    name = "explicit"
    title = "New style?"

    def run(self, ctx: Context):
        # "detail" as an evidence key would collide with the builder's parameter as **kwargs.
        return self.fail("not-listening", "down", "the detail", evidence={"detail": "a key", "pid": 1})


def test_evidence_is_an_explicit_mapping_and_keywords_still_work_with_a_deprecation_warning():
    ctx = context("127.0.0.1:8080")
    f = _Explicit().run(ctx)
    assert f.detail == "the detail" and f.evidence == {"detail": "a key", "pid": 1}
    with pytest.warns(DeprecationWarning, match="evidence="):
        f = _Legacy().run(ctx)
    assert f.evidence == {"pid": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _Explicit().run(ctx)  # the explicit form never warns


def test_a_lazy_fact_is_gathered_once_typed_and_injectable():
    calls = []

    def gather(snapshot: Snapshot) -> int:
        calls.append(snapshot.port)
        return 42

    answer: Fact[int] = Fact("answer", gather)
    ctx = context("127.0.0.1:8080")
    assert ctx.fact(answer) == 42 and ctx.fact(answer) == 42 and calls == [8080]
    injected = context("127.0.0.1:8080", extras={"answer": 7})
    assert injected.fact(answer) == 7 and calls == [8080]

    def broken(snapshot: Snapshot) -> int:
        raise OSError("no such file")

    assert ctx.fact(Fact("broken", broken)) is None
    assert "no such file" in ctx.facts.visibility["broken"]


def test_the_resolver_failure_kind_is_part_of_the_context():
    from portdoctor.api import NO_ADDRESS
    from portdoctor.resolve import ResolveError

    ctx = context("db.example:5432", resolve_error=ResolveError("no address", NO_ADDRESS))
    assert ctx.resolve_kind == NO_ADDRESS
    assert context("127.0.0.1:1").resolve_kind is None


# --- declared order ----------------------------------------------------------------------


def _loaded(name: str, order: int = 500, after: tuple[str, ...] = (), before: tuple[str, ...] = ()):
    from portdoctor.plugins import LoadedCheck

    check = type(f"C_{name}", (Check,), {"name": name, "title": name, "order": order,
                                         "after": after, "before": before})()
    return LoadedCheck(check, "test", name)


def _names(checks) -> list[str]:
    return [c.check.name for c in checks]


def test_after_and_before_win_over_order_numbers_and_ties_go_by_order_then_name():
    from portdoctor.plugins import pipeline_order

    checks = [_loaded("z-reads-fw", order=1, after=("fw",)), _loaded("fw", order=400),
              _loaded("early", order=50), _loaded("b", order=100), _loaded("a", order=100),
              _loaded("must-precede-a", order=900, before=("a",)), _loaded("ghost-dep", after=("not-loaded",))]
    ordered, cycle = pipeline_order(checks)
    assert cycle == []
    assert _names(ordered) == ["early", "b", "fw", "z-reads-fw", "ghost-dep", "must-precede-a", "a"]
    assert _names(pipeline_order(list(reversed(checks)))[0]) == _names(ordered), "deterministic"


def test_a_cycle_is_named_and_every_check_still_runs():
    from portdoctor.plugins import pipeline_order

    checks = [_loaded("one", after=("three",)), _loaded("two", after=("one",)), _loaded("three", after=("two",)),
              _loaded("free", order=10), _loaded("downstream", after=("two",))]
    ordered, cycle = pipeline_order(checks)
    assert sorted(cycle) == ["one", "three", "two"] and "downstream" not in cycle
    assert _names(ordered)[0] == "free" and sorted(_names(ordered)) == sorted(_names(checks))


def test_a_cycle_in_plugins_is_one_clear_load_error(tmp_path):
    from portdoctor.plugins import discover

    (tmp_path / "loop.py").write_text(
        "from portdoctor.api import Check\n"
        "class A(Check):\n    name = 'loop-a'\n    title = 'A?'\n    after = ('loop-b',)\n"
        "class B(Check):\n    name = 'loop-b'\n    title = 'B?'\n    after = ('loop-a',)\n")
    checks, errors = discover([tmp_path], include_user_dir=False)
    assert {"loop-a", "loop-b"} <= set(_names(checks))
    [error] = [e for e in errors if "cycle" in str(e)]
    assert "loop-a -> loop-b -> loop-a" in str(error) or "loop-b -> loop-a -> loop-b" in str(error)


def test_the_built_ins_that_read_another_checks_finding_declare_it():
    from portdoctor.plugins import discover

    checks, _ = discover([], include_user_dir=False)
    names = _names(checks)
    for c in checks:
        for earlier in c.check.after:
            assert names.index(earlier) < names.index(c.check.name), (c.check.name, earlier)
    for path in CHECKS:
        text = path.read_text(encoding="utf-8")
        assert "order = " not in text or "# after" not in text, f"{path.name}: declare after=(...), not a comment"


_BUILDER_PARAMETERS = {
    "passed": {"title", "detail", "evidence"},
    "warn": {"title", "detail", "remediation", "cause", "evidence", "actions"},
    "fail": {"cause", "title", "detail", "remediation", "evidence", "actions"},
    "skip": {"reason", "how", "command", "evidence"},
}


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: p.name)
def test_built_in_checks_pass_evidence_as_a_mapping(path):
    legacy = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"
                and node.func.attr in _BUILDER_PARAMETERS):
            extra = [k.arg or "**" for k in node.keywords if k.arg not in _BUILDER_PARAMETERS[node.func.attr]]
            if extra:
                legacy.append(f"{path.name}:{node.lineno} self.{node.func.attr}(..., {', '.join(extra)}=...)")
    assert not legacy, "pass evidence={...}: " + "; ".join(legacy)


def test_the_third_party_example_in_developing_md_works():
    """DEVELOPING.md's plugin example (a check and its test, written with portdoctor.testing) runs as shown."""
    import re
    import types

    text = (ROOT / "DEVELOPING.md").read_text(encoding="utf-8")
    section = text[text.index("### A third-party check in its own package"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    check_part, test_part = code.split("# tests/test_check.py")
    module = types.ModuleType("redis_auth.check")
    exec(compile(check_part, "DEVELOPING.md (check)", "exec"), module.__dict__)
    sys.modules["redis_auth"], sys.modules["redis_auth.check"] = types.ModuleType("redis_auth"), module
    try:
        tests: dict = {}
        exec(compile(test_part, "DEVELOPING.md (test)", "exec"), tests)
        tests["test_loopback_only_redis_warns_for_a_remote_target"]()
    finally:
        sys.modules.pop("redis_auth", None)
        sys.modules.pop("redis_auth.check", None)
    assert len(check_part.strip().splitlines()) <= 30
