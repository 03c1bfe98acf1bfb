"""Allows ``python -m portdoctor``.

``python -m`` puts the current working directory first on ``sys.path``. portdoctor is
often run with sudo in folders other users control: a ``./psutil.py`` or a
``./evil.dist-info`` there must not be imported or read. The package itself is already
loaded (its submodules are found through ``portdoctor.__path__``), so the working
directory is dropped before anything else is imported.
"""

import os
import sys


def _drop_working_directory() -> None:
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        cwd = None
    sys.path[:] = [p for p in sys.path if p and (cwd is None or os.path.realpath(p) != cwd)]


_drop_working_directory()

from portdoctor.cli import run  # noqa: E402 - after the working directory is dropped

run()
