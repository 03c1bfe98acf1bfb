"""portdoctor: why a connection to host:port is refused or hangs, and what to do now.

The package is the headless core; every front end (the ``--report`` renderers, the
Textual wizard in :mod:`portdoctor.tui`) consumes :func:`portdoctor.pipeline.diagnose`.
"""

__version__ = "0.1.0"
