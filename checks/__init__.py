"""The built-in checks, shipped as ``portdoctor.checks``.

Each module holds one check (or a few for one platform), written only against
:mod:`portdoctor.api` (tests/test_check_api.py fails when a module here imports anything
else from portdoctor), and is registered in pyproject.toml under the entry-point group
``portdoctor.checks``, exactly as a third-party check would be.
"""
