"""The wizard's main widget: one :class:`TargetView` per target on the command line.

A view shows the target, its addresses and probes at the top, the verdict banner, the
pipeline (each check with its state and one-line result) and the detail of the selected
check. It owns its diagnosis runs: each run is a thread worker that calls the engine
and posts every event back as a :class:`~portdoctor.tui.messages.PipelineEvent`.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from portdoctor.model import Action, Outcome, Report, Target, Verdict
from portdoctor.tui.detail import detail_markdown
from portdoctor.tui.engine import Engine
from portdoctor.tui.literal import literal
from portdoctor.tui.messages import FixApplied, PipelineEvent
from portdoctor.tui.state import NOT_RUN, RUNNING, WAITING, CheckRow, DiagnosisRun

STATE_ICON = {
    WAITING: ("·", "$text-muted"),
    RUNNING: ("…", "$accent"),
    NOT_RUN: ("-", "$text-muted"),
    "pass": ("✔", "$success"),
    "warn": ("!", "$warning"),
    "fail": ("✘", "$error"),
    "skip": ("–", "$text-muted"),
    "error": ("‼", "$error"),
}

# The finished check list: what failed or warned first, then the rest (pipeline order within).
_ROW_ORDER = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4}
NOT_APPLYING = "-not-applying"  # the id of the summary line of checks that did not apply

OUTCOME_STYLE = {
    Outcome.OPEN: "$success",
    Outcome.REFUSED: "$error",
    Outcome.TIMEOUT: "$warning",
    Outcome.UNREACHABLE: "$error",
    Outcome.ERROR: "$error",
}


def row_prompt(row: CheckRow) -> str:
    icon, style = STATE_ICON.get(row.state, ("?", "$text"))
    return (f"[{style}]{icon} {literal(row.state):<7}[/] [b]{literal(row.name)}[/b]\n"
            f"[$text-muted]{literal(row.result)}[/]")


class TargetView(Widget):
    """Everything about one target: live pipeline, detail, verdict; re-run and watch."""

    def __init__(self, target: Target, engine: Engine, *, watch_interval: float = 3.0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target = target
        self.engine = engine
        self.watch_interval = watch_interval
        self.run = DiagnosisRun(target)
        self.run_id = 0
        self.runs_finished = 0
        self.watching = False
        self.watch_reruns = 0  # runs started since watching started
        self.fixed = False  # reachable now, after a failing run in this session
        self.status_text = ""
        self._last_failed: bool | None = None
        self._watch_timer: Timer | None = None
        self._current_worker: Worker | None = None
        self._keep_selected: str | None = None  # r re-runs: the check the user was looking at

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield Static(id="verdict")
        with Horizontal(id="body"):
            yield OptionList(id="pipeline")
            with VerticalScroll(id="detail-scroll"):
                yield Markdown(id="detail")
        yield Static(id="status")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").can_focus = True
        self.start()

    # --- running ---------------------------------------------------------------------
    def start(self) -> None:
        """Start a fresh diagnosis of the target (an unfinished one is abandoned)."""
        self._cancel_watch_timer()  # r while watching: this run replaces the pending one
        self.watch_reruns += 1 if self.watching else 0
        if self.run_id:  # a re-run keeps the selected check (the first run selects the verdict's)
            selected = self.selected_row
            self._keep_selected = selected.name if selected is not None else self._keep_selected
        self.run_id += 1
        self.run = DiagnosisRun(self.target)
        self.fixed = False if self.watching else self.fixed
        self.query_one("#pipeline", OptionList).clear_options()
        self.query_one("#detail", Markdown).update("")
        self._draw_summary()
        self._draw_verdict()
        self._current_worker = self._diagnose(self.run_id, self.target)

    @work(thread=True, exclusive=True, exit_on_error=False, group="diagnosis", description="diagnosis")
    def _diagnose(self, run_id: int, target: Target) -> Report:
        # Runs in a thread: only post messages from here, never touch a widget.
        return self.engine.diagnose(target, lambda event: self.post_message(PipelineEvent(run_id, event)))

    def retarget(self, target: Target) -> None:
        self.target = target
        self._last_failed = None
        self.fixed = False
        self.set_watching(False)
        self.start()

    def set_watching(self, on: bool) -> None:
        self.watching = on
        self.watch_reruns = 0
        self._cancel_watch_timer()
        if on and self.run.finished and not self.run.ok:
            self._schedule_rerun()
        elif on and self.run.ok:
            self.watching = False  # already reachable: nothing to wait for
        self._draw_verdict()

    def _schedule_rerun(self) -> None:
        """Re-run after the watch interval: one pending re-run at most (a second timer, set
        when a run ends just as watching starts, would outlive 'w' pressed again)."""
        self._cancel_watch_timer()
        self._watch_timer = self.set_timer(self.watch_interval, self.start)

    def _cancel_watch_timer(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None

    # --- events from the worker ------------------------------------------------------
    @on(PipelineEvent)
    def _pipeline_event(self, message: PipelineEvent) -> None:
        message.stop()
        if message.run_id != self.run_id:
            return  # a late event of a run that was replaced
        event = message.event
        kind = type(event).__name__
        changed = self.run.apply(event)
        pipeline = self.query_one("#pipeline", OptionList)
        if kind == "Planned":
            pipeline.clear_options()
            pipeline.add_options([Option(row_prompt(row), id=row.name) for row in self.run.rows.values()])
            if pipeline.option_count:
                pipeline.highlighted = 0
        elif changed is not None:
            self._redraw_row(changed)
        if kind in ("Resolved", "Probed", "Finished"):
            self._draw_summary()
        if kind == "Finished":
            self._order_rows()
            self._finished()
        self._draw_verdict()

    def _order_rows(self) -> None:
        """The finished list leads with what failed or warned; the checks that did not apply
        on this platform or target are one summary line, not a row each."""
        pipeline = self.query_one("#pipeline", OptionList)
        rows = [row for row in self.run.rows.values() if row.state != NOT_RUN]
        rows.sort(key=lambda row: _ROW_ORDER.get(row.state, len(_ROW_ORDER)))  # stable: pipeline order
        options = [Option(row_prompt(row), id=row.name) for row in rows]
        skipped = [row.name for row in self.run.rows.values() if row.state == NOT_RUN]
        if skipped:
            options.append(Option(f"[$text-muted]- {len(skipped)} did not apply here: "
                                  f"{literal(', '.join(skipped))}[/]", id=NOT_APPLYING, disabled=True))
        pipeline.clear_options()
        pipeline.add_options(options)

    def _redraw_row(self, name: str) -> None:
        pipeline = self.query_one("#pipeline", OptionList)
        row = self.run.rows[name]
        try:
            pipeline.replace_option_prompt(name, row_prompt(row))
        except Exception:  # noqa: BLE001 - a row that was not planned
            pipeline.add_option(Option(row_prompt(row), id=name))
        if self.selected_row is row:
            self._draw_detail()

    def _finished(self) -> None:
        self.runs_finished += 1
        failed = not self.run.ok
        if not failed and self._last_failed:
            self.fixed = True
        elif failed:
            self.fixed = False
        self._last_failed = failed
        pipeline = self.query_one("#pipeline", OptionList)
        kept = self._keep_selected if self._keep_selected in self.run.rows else None
        name = kept or self.run.verdict_row
        try:
            pipeline.highlighted = pipeline.get_option_index(name) if name is not None else 0
        except Exception:  # noqa: BLE001 - a check that did not apply this time
            pipeline.highlighted = 0 if pipeline.option_count else None
        self._draw_detail()
        if self.watching:
            if failed:
                self._schedule_rerun()
            else:
                self._watch_ended_reachable()

    def _watch_ended_reachable(self) -> None:
        """Watching found the target reachable: stop re-running and say so."""
        runs = self.watch_reruns
        self.set_watching(False)
        if self.fixed:
            self.say(f"Fixed after {runs} re-run{'s' if runs != 1 else ''}: "
                     f"{self.target.display} is reachable; watching stopped.")
        else:
            self.say(f"{self.target.display} is reachable; watching stopped.")
        self.app.bell()

    @work(thread=True, exit_on_error=False, group="fix", description="fix")
    def apply_fix(self, action: Action) -> None:
        # Runs in a thread: the result goes back as a message, then the diagnosis re-runs.
        from portdoctor.actions import stop_process

        self.post_message(FixApplied(stop_process(action)))

    @on(FixApplied)
    def _fix_applied(self, message: FixApplied) -> None:
        message.stop()
        self.say(message.result)
        self.app.notify(message.result, title="Fix")
        self.start()

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure becomes UI: a crashed engine shows as such."""
        event.stop()
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        if worker.group == "fix":
            self.say(f"The fix failed: {type(worker.error).__name__}: {worker.error}")
            self.start()
        elif worker is self._current_worker and not self.run.finished:
            error = worker.error
            self.run.crashed = f"{type(error).__name__}: {error}"
            self._last_failed = True
            self.runs_finished += 1
            self._draw_verdict()
            if self.watching:
                self._schedule_rerun()

    # --- selection and detail --------------------------------------------------------
    @property
    def selected_row(self) -> CheckRow | None:
        pipeline = self.query_one("#pipeline", OptionList)
        index = pipeline.highlighted
        if index is None or index >= pipeline.option_count:
            return None
        option_id = pipeline.get_option_at_index(index).id
        return self.run.rows.get(option_id or "")

    @on(OptionList.OptionHighlighted, "#pipeline")
    def _row_highlighted(self) -> None:
        self._draw_detail()

    def _draw_detail(self) -> None:
        row = self.selected_row
        text = detail_markdown(row, self.run.report, self.engine.explain) if row is not None else ""
        self.query_one("#detail", Markdown).update(text)

    @property
    def selected_command(self) -> str | None:
        """The command `c` copies: the selected check's, else the verdict's first step."""
        row = self.selected_row
        if row is not None and row.command:
            return row.command
        report = self.run.report
        if report is not None and report.verdict.first_step is not None:
            return report.verdict.first_step.command
        return None

    def say(self, text: str) -> None:
        """One line under the panes: what the last action did (copied, saved, fixed)."""
        self.status_text = text
        self.query_one("#status", Static).update(literal(text))

    # --- drawing ---------------------------------------------------------------------
    def on_resize(self) -> None:
        self._draw_verdict()  # the "Also:" line is trimmed to the width

    def _draw_summary(self) -> None:
        run = self.run
        target = self.target
        lines = [f"[b]Target[/b]     [b]{literal(target.display)}[/b] ({target.protocol})"
                 + (f"  [$text-muted]as typed: {literal(target.input)}[/]" if target.input != target.display else "")]
        if target.protocol == "unix":  # a path: nothing to resolve
            lines.append(f"[b]Socket[/b]     {literal(target.path or '')}")
        elif run.resolve_error:
            lines.append(f"[b]Resolved[/b]   [$error]{literal(run.resolve_error)}[/]")
        elif run.addresses is None:
            lines.append("[b]Resolved[/b]   [$text-muted]resolving…[/]")
        else:
            lines.append("[b]Resolved[/b]   " + (literal(", ".join(run.addresses)) or "[$error]no address[/]"))
        if run.probes is None:
            lines.append("[b]Probes[/b]     [$text-muted]" + ("waiting…" if run.addresses is None else "connecting…") + "[/]")
        else:
            probes = [f"{literal(p.address)} [{OUTCOME_STYLE.get(p.outcome, '$text')}]{p.outcome}[/] {p.ms:.1f} ms"
                      for p in run.probes]
            lines.append("[b]Probes[/b]     " + ("; ".join(probes) or "[$text-muted]none[/]"))
        self.query_one("#summary", Static).update("\n".join(lines))

    def _draw_verdict(self) -> None:
        banner = self.query_one("#verdict", Static)
        run = self.run
        for cls in ("-running", "-ok", "-fail", "-fixed", "-crashed"):
            banner.remove_class(cls)
        watch = ""
        if self.watching:
            watch = f"\n[$text-muted]Watching: re-running every {self.watch_interval:g} s until reachable (w to stop)[/]"
        if run.crashed:
            banner.add_class("-crashed")
            banner.update(f"[b]‼ The diagnosis crashed[/b]: {literal(run.crashed)}\n"
                          "This is a bug in portdoctor; press r to try again." + watch)
            return
        report = run.report
        if report is None:
            banner.add_class("-running")
            done = sum(1 for r in run.rows.values() if r.state not in (WAITING, RUNNING))
            total = len(run.rows)
            progress = f" (check {min(done + 1, total)} of {total})" if total else ""
            banner.update(f"[b]Diagnosing {literal(self.target.display)}…[/b]{progress}" + watch)
            return
        verdict = report.verdict
        if not report.failed:
            if self.fixed:
                banner.add_class("-fixed")
                banner.update(f"[b]✔ FIXED[/b]: {literal(self.target.display)} is reachable now.\n"
                              f"{literal(verdict.summary)}")
            else:
                banner.add_class("-ok")
                banner.update(f"[b]✔ Reachable[/b]: {literal(verdict.summary)}")
            return
        banner.add_class("-fail")
        from portdoctor.causes import CAUSES

        plain = CAUSES[verdict.cause].summary if verdict.cause in CAUSES else ""
        first = ""
        step = verdict.first_step
        if step is not None:
            first = f"\n[b]First:[/b] {literal(step.text)}" + (f"  [b]{literal(step.command)}[/b]" if step.command else "")
        banner.update(f"[b]✘ {literal(verdict.cause)}[/b]: {literal(verdict.summary)}"
                      + (f"\n[$text-muted]{literal(plain)}[/]" if plain and plain != verdict.summary else "")
                      + first + self._also_line(verdict) + watch)

    def _also_line(self, verdict: Verdict) -> str:
        """``Also: not-listening — Nothing is listening…``: the other failing causes, one line."""
        also = verdict.also
        if not also:
            return ""
        text = "; ".join(f"{cause} — {title.rstrip('.') if len(also) > 1 else title}" for cause, title in also)
        width = max(20, self.size.width - 10) if self.size.width else 100
        if len(text) > width:
            text = text[: width - 1] + "…"
        return f"\n[b]Also:[/b] {literal(text)}"
