"""The lint step of CI, as a test: so a finding fails the fast suite too, not only CI.

The rules are in pyproject.toml (``[tool.ruff]``); ``ruff check --fix .`` applies the safe
fixes (sorted imports among them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert found, "ruff is not installed: run .venv/bin/pip install -e '.[test]' (it is in the test extra)"
    return found


def test_ruff_finds_nothing():
    result = subprocess.run([_ruff(), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"ruff check . found (fix with 'ruff check --fix .'):\n{result.stdout}{result.stderr}"
