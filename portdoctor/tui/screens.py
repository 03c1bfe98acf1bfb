"""The wizard's dialogs and secondary screens.

Help (``?``), save (``s``: choose the format, the folder defaults to the reports folder),
edit the target (``e``), history of saved reports (``h``) with a read-only view and a
comparison with the current run, and the confirmation in front of every fix action.
"""

from __future__ import annotations

from pathlib import Path

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Markdown, OptionList, Static
from textual.widgets.option_list import Option

from portdoctor.actions import how_it_stops
from portdoctor.history import SavedReport, compare_reports, load_report_dict, saved_reports
from portdoctor.model import Action, Report, Target
from portdoctor.tui.literal import literal

HELP_TEXT = """\
# portdoctor wizard

| key | what it does |
| --- | --- |
| **↑ ↓** | select a check; its evidence, what to do and the explain page show on the right |
| **r** | re-run the diagnosis |
| **w** | watch: re-run every few seconds until the target is reachable, then show FIXED |
| **c** | copy the selected check's command (also shown on screen: not every terminal lets programs set the clipboard) |
| **s** | save the report (Markdown, JSON or text) to the reports folder |
| **e** | edit the target and diagnose another address |
| **h** | history: saved reports, newest first; open one, or compare it with this run |
| **x** | fix: stop the process holding the port when `--expect` names another owner (asks first) |
| **[ ]** | previous / next target, when several were given |
| **t** | switch between the light and dark theme |
| **?** | this help |
| **q** | quit (exit code 0 if every target's last diagnosis was reachable, else 1) |

The mouse works too: click a check, a tab, a button or a key in the footer.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Markdown(HELP_TEXT)
            yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss()


class SaveScreen(ModalScreen[Path | None]):
    """Choose a format and a folder; the file name is a timestamp plus the target."""

    BINDINGS = [
        Binding("escape", "dismiss", "Cancel"),
        Binding("m", "save('markdown')", "Markdown"),
        Binding("j", "save('json')", "JSON"),
        Binding("t", "save('text')", "Text"),
    ]

    def __init__(self, report: Report, folder: Path) -> None:
        super().__init__()
        self.report = report
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(id="save", classes="dialog"):
            yield Label(f"[b]Save the report of {literal(self.report.target.display)}[/b]")
            yield Label("Folder:")
            yield Input(str(self.folder), id="folder")
            yield Label("Format (m / j / t):")
            with Horizontal(classes="buttons"):
                yield Button("Markdown", id="save-markdown", variant="primary")
                yield Button("JSON", id="save-json")
                yield Button("Text", id="save-text")
                yield Button("Cancel", id="cancel")
            yield Static(id="save-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#save-markdown").focus()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("save-"):
            self.action_save(event.button.id.removeprefix("save-"))

    def action_save(self, fmt: str) -> None:
        from portdoctor.exitcodes import UsageError
        from portdoctor.output import save_report
        from portdoctor.render import render

        folder = Path(self.query_one("#folder", Input).value.strip() or str(self.folder)).expanduser()
        try:
            text = render([self.report], fmt, verbose=True)
            path = save_report(text, fmt, self.report.target.display, folder=folder)
        except UsageError as exc:
            self.query_one("#save-error", Static).update(literal(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a renderer not written yet: say so, stay open
            self.query_one("#save-error", Static).update(literal(f"could not save as {fmt}: {type(exc).__name__}: {exc}"))
            return
        self.dismiss(path)


# The forms parse_target accepts, as the edit dialog lists them (escaped: "[v6]" is not markup).
TARGET_FORMS = ("host:port, [v6]:port, :port, port, or a URL (postgres://db:5432, udp://host:53), "
                "a Unix socket path, or paste the client's error message")


class MessageInput(Input):
    """An Input that keeps a pasted multi-line error message whole (lines joined by spaces).

    Textual's Input keeps only the first line of a paste; a traceback's address is often
    further down.
    """

    MAX_PASTE = 20000  # characters kept from one paste

    def _on_paste(self, event: events.Paste) -> None:
        if event.text:
            text = " ".join(event.text[: self.MAX_PASTE].split())
            if self.selection.is_empty:
                self.insert_text_at_cursor(text)
            else:
                self.replace(text, *self.selection)
        event.stop()


class EditTargetScreen(ModalScreen[Target | None]):
    """Type another target; a bad one shows the parser's one-line error and stays open."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, current: Target) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="edit", classes="dialog"):
            yield Label("[b]Diagnose another target[/b]")
            yield Static(literal(TARGET_FORMS), id="edit-forms", classes="muted")
            yield MessageInput(self.current.input, id="target-input", placeholder="127.0.0.1:8080")
            yield Static(id="edit-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Diagnose", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#go")
    def _submit(self) -> None:
        from portdoctor.exitcodes import UsageError
        from portdoctor.target import read_target

        text = self.query_one("#target-input", Input).value.strip()
        try:
            targets = read_target(text)  # a target as typed, or the first endpoint of a pasted message
        except UsageError as exc:
            self.query_one("#edit-error", Static).update(literal(str(exc)))
            return
        if targets[0].container:  # container:NAME[:PORT]: the engine says where (up to 2 s: not on the UI thread)
            self.query_one("#edit-error", Static).update("Asking the container engine…")
            self.run_worker(lambda: self._locate(targets[0]), thread=True, exclusive=True, exit_on_error=False)
            return
        self.dismiss(targets[0])

    def _locate(self, target: Target) -> None:
        from portdoctor.exitcodes import UsageError
        from portdoctor.facts.engine import locate_container

        try:
            located = locate_container(target)
        except UsageError as exc:
            self.app.call_from_thread(self.query_one("#edit-error", Static).update, literal(str(exc)))
            return
        self.app.call_from_thread(self.dismiss, located)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ConfirmStopScreen(ModalScreen[bool]):
    """Say exactly what will happen (pid, process, signal); Cancel has the focus."""

    BINDINGS = [Binding("escape,n", "dismiss(False)", "Cancel")]

    def __init__(self, action: Action) -> None:
        super().__init__()
        self.action_to_confirm = action

    def compose(self) -> ComposeResult:
        a = self.action_to_confirm
        with Vertical(id="confirm", classes="dialog"):
            yield Label("[b]Stop the process holding the port?[/b]")
            yield Static(literal(a.describe()), id="confirm-what")
            yield Static(literal(how_it_stops(a)) + " The diagnosis runs again afterwards.", id="confirm-how",
                         classes="muted")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(f"Stop pid {a.pid}", id="stop", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel").focus()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "stop")


class HistoryScreen(Screen[None]):
    """Saved reports, newest first: open one read-only, or compare it with the current run."""

    BINDINGS = [
        Binding("escape,q,h", "app.pop_screen", "Back"),
        Binding("enter,o", "open", "Open"),
        Binding("d", "compare", "Compare with this run"),
    ]

    def __init__(self, folder: Path, current: Report | None) -> None:
        super().__init__()
        self.folder = folder
        self.current = current
        self.saved: list[SavedReport] = []

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Saved reports[/b] in {literal(str(self.folder))}, newest first", id="history-title")
        yield OptionList(id="history")
        yield Static(id="history-note", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        self.saved = saved_reports(self.folder)
        history = self.query_one("#history", OptionList)
        history.add_options([Option(f"{literal(r.label)}  [$text-muted]{r.fmt}[/]", id=str(i)) for i, r in enumerate(self.saved)])
        note = self.query_one("#history-note", Static)
        if not self.saved:
            note.update("No saved reports yet: press s on the main screen to save one.")
        else:
            note.update("enter: open (read-only)   d: compare with the current run (JSON reports)   esc: back")
            history.highlighted = 0
        history.focus()

    def _selected(self) -> SavedReport | None:
        index = self.query_one("#history", OptionList).highlighted
        return self.saved[index] if index is not None and index < len(self.saved) else None

    @on(OptionList.OptionSelected, "#history")
    def action_open(self) -> None:
        saved = self._selected()
        if saved is not None:
            self.app.push_screen(ReportScreen(saved))

    def action_compare(self) -> None:
        saved = self._selected()
        note = self.query_one("#history-note", Static)
        if saved is None:
            return
        if self.current is None:
            note.update("The current run has not finished yet; compare once it has.")
            return
        if not saved.comparable:
            note.update(f"{literal(saved.label)} is {saved.fmt}; only JSON reports can be compared (save with j).")
            return
        try:
            old = load_report_dict(saved.path, self.current.target.display)
        except (OSError, ValueError) as exc:
            note.update(literal(f"cannot read {saved.label}: {exc}"))
            return
        lines = compare_reports(old, self.current.to_dict())
        title = f"# {saved.label} → this run ({self.current.target.display})"
        self.app.push_screen(TextScreen(title + "\n\n" + "\n".join(lines), markdown=True, screen_id="compare"))


class ReportScreen(Screen[None]):
    """One saved report, read-only."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, saved: SavedReport) -> None:
        super().__init__()
        self.saved = saved

    def compose(self) -> ComposeResult:
        try:
            text = self.saved.path.read_text(encoding="utf-8")
        except OSError as exc:
            text = f"cannot read {self.saved.path}: {exc}"
        yield Static(f"[b]{literal(self.saved.label)}[/b] (read-only)", id="report-title")
        with VerticalScroll(id="report-body"):
            if self.saved.fmt == "markdown":
                yield Markdown(text)
            else:
                yield Static(text, markup=False)  # machine text: never read as markup
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report-body").focus()


class TextScreen(Screen[None]):
    """A page of Markdown (the comparison)."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, text: str, *, markdown: bool = True, screen_id: str | None = None) -> None:
        super().__init__(id=screen_id)
        self.text = text
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="text-body"):
            yield Markdown(self.text) if self.markdown else Static(self.text, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#text-body").focus()
