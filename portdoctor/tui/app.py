"""The wizard application: one tab per target, the keys, and the exit code.

:class:`WizardApp` lays out a :class:`~portdoctor.tui.widgets.TargetView` per target
(tabs when there are several) and binds the keys: r re-run, w watch, c copy, s save,
e edit, h history, x fix, ? help, q quit. All diagnosis happens in the views' thread
workers through the one engine (:mod:`portdoctor.tui.engine`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, TabbedContent, TabPane

from portdoctor.actions import not_offered, offered
from portdoctor.model import Target
from portdoctor.tui.engine import Engine
from portdoctor.tui.widgets import TargetView

# Set by benchmarks/bench_startup.py: exit right after the first frame, writing the
# monotonic clock of that moment to this file.
STARTUP_PROBE_ENV = "PORTDOCTOR_STARTUP_PROBE"


class WizardApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "portdoctor"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("r", "rerun", "Re-run"),
        Binding("w", "watch", "Watch"),
        Binding("c", "copy", "Copy"),
        Binding("s", "save", "Save"),
        Binding("e", "edit", "Edit"),
        Binding("h", "history", "History"),
        Binding("x", "fix", "Fix"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("right_square_bracket", "next_target", "Next target", show=False),
        Binding("left_square_bracket", "previous_target", "Previous target", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
    ]

    def __init__(
        self,
        targets: list[Target],
        engine: Engine | None = None,
        *,
        watch_interval: float = 3.0,
        reports_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.targets = list(targets)
        self.engine = engine or Engine()
        self.watch_interval = watch_interval
        self._reports_folder = reports_folder
        self._views: list[TargetView] = []  # kept after exit, for the exit code

    # --- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with TabbedContent(id="targets", classes="single" if len(self.targets) == 1 else ""):
            for index, target in enumerate(self.targets):
                with TabPane(target.display, id=f"target-{index}"):
                    yield TargetView(target, self.engine, watch_interval=self.watch_interval, id=f"view-{index}")
        yield Footer()

    def on_mount(self) -> None:
        self._views = list(self.query(TargetView))
        self.theme = "textual-dark"
        if len(self.targets) == 1:
            self.query_one(TabbedContent).query_one("ContentTabs").can_focus = False
        self.view.query_one("#pipeline").focus()
        if os.environ.get(STARTUP_PROBE_ENV):
            self.call_after_refresh(self._startup_probe)

    def _startup_probe(self) -> None:
        Path(os.environ[STARTUP_PROBE_ENV]).write_text(f"{time.monotonic():.6f}\n")
        self.exit(0)

    @property
    def views(self) -> list[TargetView]:
        if not self._views:
            self._views = list(self.query(TargetView))
        return self._views

    @property
    def view(self) -> TargetView:
        """The target shown now."""
        pane = self.query_one(TabbedContent).active_pane
        if pane is not None:
            return pane.query_one(TargetView)
        return self.views[0]

    @property
    def reports_folder(self) -> Path:
        if self._reports_folder is None:
            from portdoctor.output import reports_dir

            self._reports_folder = reports_dir()
        return self._reports_folder

    crash: BaseException | None = None  # an unhandled exception: the caller reports it in one line

    def _handle_exception(self, error: Exception) -> None:
        """Any unhandled exception ends the wizard with exit 3 and one line (as the report path
        does), not Textual's full-screen traceback: the CLI re-raises :attr:`crash` after exit."""
        self.crash = error
        if self._exception is None:  # as Textual does, so that Pilot tests still see the error
            self._exception = error
            self._exception_event.set()
        self.exit(return_code=3)

    def result_code(self) -> int:
        """0 if the last diagnosis of every target was reachable and nothing failed, else 1."""
        return 0 if all(v.run.clean for v in self.views) else 1

    # --- keys ------------------------------------------------------------------------
    def action_rerun(self) -> None:
        view = self.view
        view.say("")
        view.start()

    def action_watch(self) -> None:
        view = self.view
        view.set_watching(not view.watching)
        if view.watching:
            view.say(f"Watching {view.target.display}: re-running every {view.watch_interval:g} s until it is reachable.")
        elif view.run.ok:
            view.say(f"{view.target.display} is reachable; nothing to watch.")
        else:
            view.say("Stopped watching.")

    def action_copy(self) -> None:
        view = self.view
        command = view.selected_command
        if not command:
            view.say("Nothing to copy: this check suggests no command.")
            self.notify("No command to copy here.", severity="warning")
            return
        self.copy_to_clipboard(command)
        view.say(f"Copied: {command}")
        self.notify(command, title="Copied to the clipboard (if your terminal allows it)")

    def action_save(self) -> None:
        from portdoctor.tui.screens import SaveScreen

        view = self.view
        report = view.run.report
        if report is None:
            view.say("Nothing to save yet: the diagnosis is still running.")
            return

        def saved(path: Path | None) -> None:
            if path is not None:
                view.say(f"Saved: {path}")
                self.notify(str(path), title="Report saved")

        self.push_screen(SaveScreen(report, self.reports_folder), saved)

    def action_edit(self) -> None:
        from portdoctor.tui.screens import EditTargetScreen

        view = self.view

        def edited(target: Target | None) -> None:
            if target is None:
                return
            view.retarget(target)
            pane = self.query_one(TabbedContent)
            pane.get_tab(pane.active).label = target.display
            view.say(f"Diagnosing {target.display}.")

        self.push_screen(EditTargetScreen(view.target), edited)

    def action_history(self) -> None:
        from portdoctor.tui.screens import HistoryScreen

        self.push_screen(HistoryScreen(self.reports_folder, self.view.run.report))

    def action_help(self) -> None:
        from portdoctor.tui.screens import HelpScreen

        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_next_target(self) -> None:
        self._switch(+1)

    def action_previous_target(self) -> None:
        self._switch(-1)

    def _switch(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [f"target-{i}" for i in range(len(self.targets))]
        if tabs.active in ids:
            tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]
            self.view.query_one("#pipeline").focus()

    def action_fix(self) -> None:
        from portdoctor.tui.screens import ConfirmStopScreen

        view = self.view
        report = view.run.report
        actions = offered(report) if report is not None else []
        if not actions:
            withheld = not_offered(report) if report is not None else None
            if withheld:
                view.say(f"No safe fix to offer: {withheld}")
                return
            why = ("the diagnosis is still running" if report is None else
                   "a fix is offered only when --expect names the owner and another process holds the port")
            view.say(f"No safe fix to offer: {why}.")
            return
        action = actions[0]

        def confirmed(yes: bool | None) -> None:
            if yes:
                view.say(f"Stopping pid {action.pid} ({action.process})…")
                view.apply_fix(action)
            else:
                view.say("Cancelled: nothing was stopped.")

        self.push_screen(ConfirmStopScreen(action), confirmed)

    async def action_quit(self) -> None:
        self.exit(self.result_code())

