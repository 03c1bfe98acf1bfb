"""The explain pages: one per cause, fixed sections, and every cause a check can emit has one."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from portdoctor.causes import CAUSES
from portdoctor.explain import has_page, page, sections
from portdoctor.plugins import discover

SECTIONS = ["## What it means", "## Why it happens", "## How to confirm", "## How to fix",
            "### Linux", "### macOS", "### Windows"]
FINDING_BUILDERS = {"fail", "warn"}


@pytest.mark.parametrize("cause", list(CAUSES))
def test_every_cause_has_a_page_with_every_section_in_order(cause):
    assert has_page(cause), f"portdoctor/explain/pages/{cause}.md is missing"
    text = page(cause)
    lines = text.splitlines()
    assert lines[0] == f"# {cause}: {CAUSES[cause].summary}", "the title line names the cause and its summary"
    positions = [text.find(f"\n{s}\n") for s in SECTIONS]
    assert all(p > 0 for p in positions), [s for s, p in zip(SECTIONS, positions) if p < 0]
    assert positions == sorted(positions), "sections are in the fixed order"
    for heading, following in zip(SECTIONS, SECTIONS[1:] + [None]):
        start = text.index(f"\n{heading}\n") + len(heading) + 2
        end = text.index(f"\n{following}\n") if following else len(text)
        if heading != "## How to fix":  # its body is the three OS subsections
            assert text[start:end].strip(), f"{cause}: section {heading!r} is empty"


@pytest.mark.parametrize("cause", list(CAUSES))
def test_pages_fit_a_terminal(cause):
    for number, line in enumerate(page(cause).splitlines()[1:], start=2):
        assert len(line) <= 88, f"{cause}.md line {number} is {len(line)} characters: {line!r}"


def test_no_page_without_a_cause():
    pages = Path(__file__).resolve().parents[1] / "portdoctor" / "explain" / "pages"
    orphans = sorted(p.stem for p in pages.glob("*.md") if p.stem not in CAUSES)
    assert orphans == [], "every page must belong to a cause in portdoctor/causes.py"


def test_page_of_an_unknown_cause_is_a_key_error():
    with pytest.raises(KeyError):
        page("no-such-cause")


def test_explain_prints_the_page_and_an_unknown_cause_is_a_usage_error():
    ok = subprocess.run([sys.executable, "-m", "portdoctor", "explain", "firewall"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == page("firewall")

    bad = subprocess.run([sys.executable, "-m", "portdoctor", "explain", "no-such-cause"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "no-such-cause" in bad.stderr and "Traceback" not in bad.stderr


# --- every cause any check can emit has a page -----------------------------------------


def causes_named_in(source: str) -> tuple[set[str], list[str]]:
    """Cause names a module passes to ``self.fail(...)``, ``self.warn(..., cause=...)``,
    ``Finding(...)`` or any ``cause=`` keyword; plus the calls whose cause is not literal.

    A name bound at module or class level to a string (``CAUSE = "firewall"``) counts
    as that string; a conditional expression counts as both branches.
    """
    tree = ast.parse(source)
    constants: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value

    found: set[str] = set()
    unresolved: list[str] = []

    def collect(expr: ast.expr | None, where: ast.AST) -> None:
        if expr is None:
            return
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):
                found.add(expr.value)
            elif expr.value is not None:
                unresolved.append(f"line {where.lineno}: {ast.unparse(expr)}")
        elif isinstance(expr, ast.Name) and expr.id in constants:
            found.add(constants[expr.id])
        elif isinstance(expr, ast.IfExp):
            collect(expr.body, where)
            collect(expr.orelse, where)
        else:
            unresolved.append(f"line {where.lineno}: {ast.unparse(expr)}")

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        if name == "fail" and isinstance(func, ast.Attribute):
            collect(node.args[0] if node.args else keywords.get("cause"), node)
        elif (name == "warn" and isinstance(func, ast.Attribute)) or name == "Finding":
            collect(node.args[3] if len(node.args) > 3 else keywords.get("cause"), node)
        elif "cause" in keywords:
            collect(keywords["cause"], node)
    return found, unresolved


def test_the_scanner_finds_causes_in_every_form():
    source = (
        'CAUSE = "firewall"\n'
        "class C:\n"
        "    def run(self, ctx):\n"
        '        self.fail("dns", "t")\n'
        '        self.warn("t", "d", [], "proxy")\n'
        '        self.warn("t", cause="wrong-interface")\n'
        "        self.fail(CAUSE, 't')\n"
        '        Finding("c", Status.FAIL, "t", "not-listening")\n'
        '        self.fail("backlog-full" if x else "port-in-use", "t")\n'
        "        self.fail(pick(), 't')\n"
    )
    found, unresolved = causes_named_in(source)
    assert found == {"dns", "proxy", "wrong-interface", "firewall", "not-listening", "backlog-full", "port-in-use"}
    assert unresolved == ["line 10: pick()"]


def test_every_cause_a_check_can_emit_has_a_page():
    checks, errors = discover([], include_user_dir=False)
    assert checks, "no checks were discovered"
    assert not [e for e in errors if "portdoctor.checks." in e.source], errors
    modules = {inspect.getmodule(type(c.check)) for c in checks}
    emitted: dict[str, set[str]] = {}
    for module in modules:
        found, _ = causes_named_in(inspect.getsource(module))
        for cause in found:
            emitted.setdefault(cause, set()).add(module.__name__)
    unknown = {c: sorted(m) for c, m in emitted.items() if c not in CAUSES}
    assert unknown == {}, f"checks emit causes outside the contract: {unknown}"
    missing = sorted(c for c in emitted if not has_page(c))
    assert missing == [], f"causes without a page: {missing}"
    assert "not-listening" in emitted  # the scan really reads the built-in checks


def test_sections_split_a_page_for_the_wizard():
    parts = sections("port-in-use")
    assert list(parts) == ["What it means", "Why it happens", "How to confirm", "How to fix"]
    assert "netsh int ipv4 show excludedportrange" in parts["How to confirm"]
    assert "### Windows" in parts["How to fix"]
    assert parts["What it means"].startswith("Either another program owns the port")


def test_readme_diagnoses_table_matches_the_checks():
    """Every cause has a row; every check a row names exists and can emit that cause."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What portdoctor diagnoses", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].strip("`") in CAUSES:
            rows[cells[0].strip("`")] = [c.strip("` ") for c in cells[2].split(",")]
    assert sorted(rows) == sorted(CAUSES)
    checks, _ = discover([], include_user_dir=False)
    by_name = {c.check.name: c for c in checks}
    for cause, finders in rows.items():
        for finder in finders:
            if finder == "the verdict":
                continue
            assert finder in by_name, f"README names check {finder!r} for {cause}, but no such check is registered"
            found, _ = causes_named_in(inspect.getsource(inspect.getmodule(type(by_name[finder].check))))
            assert cause in found, f"README says {finder} finds {cause}, but its source never emits it"


def test_explain_takes_the_cause_as_the_verdict_prints_it(capsys):
    from portdoctor.cli import main

    assert main(["explain", "NOT-LISTENING"]) == 0
    assert capsys.readouterr().out.startswith("# not-listening")
