"""How the wizard reaches the one diagnosis engine, without Textual.

:class:`Engine` holds the user's options and the function that diagnoses a target —
:func:`portdoctor.pipeline.diagnose` unless a test injects another one with the same
signature — and loads the checks once, on first use, from a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from portdoctor.api import Options
from portdoctor.model import Report, Target
from portdoctor.records import dataclass, field

if TYPE_CHECKING:
    from portdoctor.pipeline import EventSink
    from portdoctor.plugins import LoadedCheck, PluginError

DiagnoseFn = Callable[..., Report]  # (target, checks, options, *, plugin_errors, on_event) -> Report


@dataclass
class Engine:
    options: Options = field(default_factory=Options)
    check_dirs: list[Path] = field(default_factory=list)
    diagnose_fn: DiagnoseFn | None = None
    explain_fn: Callable[[str], str] | None = None  # cause -> Markdown page; tests pin it
    _checks: tuple[list[LoadedCheck], list[PluginError]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def checks(self) -> tuple[list[LoadedCheck], list[PluginError]]:
        """The checks and the plugin errors, discovered once (entry points, drop-in folders)."""
        with self._lock:
            if self._checks is None:
                from portdoctor.plugins import discover  # deferred: import + entry-point scan, ~45 ms measured

                self._checks = discover(self.check_dirs)
            return self._checks

    def explain(self, cause: str) -> str:
        """The explain page of a cause (raises KeyError when there is none)."""
        if self.explain_fn is not None:
            return self.explain_fn(cause)
        from portdoctor.explain import page

        return page(cause)

    def diagnose(self, target: Target, on_event: EventSink) -> Report:
        """Run one diagnosis; called from a worker thread."""
        fn = self.diagnose_fn
        if fn is None:
            from portdoctor.pipeline import diagnose  # deferred: resolver, probes, facts, ~25 ms measured

            fn = diagnose
        checks, errors = self.checks()
        return fn(target, checks, self.options, plugin_errors=errors, on_event=on_event)
