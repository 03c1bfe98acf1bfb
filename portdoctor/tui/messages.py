"""Messages the wizard's workers post back to the UI thread.

A worker thread never touches a widget or a reactive: it posts one of these (``post_message``
is thread-safe) and the widget's handler, running on the UI thread, draws.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class PipelineEvent(Message):
    """One event of :func:`portdoctor.pipeline.diagnose`, tagged with the run it belongs to.

    ``run_id`` lets the view drop late events of a run it has already replaced (a thread
    worker cannot be interrupted, so an abandoned run may still be talking).
    """

    def __init__(self, run_id: int, event: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.event = event


class FixApplied(Message):
    """A fix action finished; ``result`` says what happened, in words."""

    def __init__(self, result: str) -> None:
        super().__init__()
        self.result = result
