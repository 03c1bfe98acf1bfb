"""The interactive wizard (the only part of portdoctor that imports Textual).

``portdoctor TARGET`` in a terminal calls :func:`run_wizard`. Importing this package is
cheap; Textual is imported when the wizard starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from portdoctor.api import Options
from portdoctor.model import Target


def run_wizard(targets: list[Target], options: Options | None = None, *, check_dirs: Sequence[Path] = ()) -> int:
    """Run the wizard on ``targets`` with the user's ``options`` (timeout, ``--expect``) and
    extra check folders; return 0 if every target's last diagnosis was ok, else 1."""
    from portdoctor.tui.app import WizardApp  # deferred: Textual and the app import in ~180 ms measured
    from portdoctor.tui.engine import Engine

    engine = Engine(options=options or Options(), check_dirs=list(check_dirs))
    app = WizardApp(targets, engine)
    app.run()
    if app.crash is not None:  # the CLI turns it into one line and exit 3
        raise app.crash
    return app.result_code()


__all__ = ["run_wizard"]
