"""The type check of CI, as a test: so a mypy error fails the fast suite too, not only CI.

The configuration is in pyproject.toml (``[tool.mypy]``): it checks ``portdoctor``
(``portdoctor/checks`` is a symlink to ``checks/``, so the built-in checks are checked as
``portdoctor.checks``), every module, with no exemption list.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_nothing():
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is not installed: run .venv/bin/pip install -e '.[test]' (it is in the test extra)"
    # The cache (.mypy_cache, ignored by git) makes the next run incremental.
    result = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mypy found:\n{result.stdout}{result.stderr}"
