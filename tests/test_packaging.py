"""The package list in pyproject.toml names every folder of the package, so none is left
out of the wheel (setuptools only warns about data folders, and says nothing about a
forgotten subpackage). The full proof, the sdist installed and tested, is .ci/sdist-leg.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

import portdoctor

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {"portdoctor": ROOT / "portdoctor", "portdoctor.checks": ROOT / "portdoctor" / "checks"}
    found = set()
    for package, folder in folders.items():
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and path.name != "__pycache__" and any(p.is_file() for p in path.iterdir()):
                rel = path.relative_to(folder).parts
                found.add(".".join((package, *rel)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_checks_ship_as_portdoctor_checks_through_the_symlink():
    link = ROOT / "portdoctor" / "checks"
    if not link.is_symlink():  # an unpacked sdist carries the folder itself
        assert (link / "__init__.py").is_file()
        return
    assert link.resolve() == (ROOT / "checks").resolve()


def test_the_version_is_written_once():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in config["project"] and "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "portdoctor.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[ab]\d+|rc\d+)?", portdoctor.__version__)
