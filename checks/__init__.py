"""The built-in checks, shipped as ``portdoctor.checks``.

Each module holds one check, written only against :mod:`portdoctor.api`, and is
registered in pyproject.toml under the entry-point group ``portdoctor.checks``,
exactly as a third-party check would be.
"""
