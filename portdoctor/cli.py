"""The command line: ``portdoctor TARGET``, ``--report``, ``explain``, ``checks``, ``schema``.

Argument handling, choosing the wizard or the report, waiting (``--wait``), many
targets diagnosed concurrently, exit codes (what CI output goes where is
:mod:`portdoctor.render.ci`), and the rule that no error ever leaves
as a traceback: usage errors are one line and exit 2, bugs are one line naming where
to report them and exit 3. The report goes to stdout (or ``-o FILE``), notes and
progress to stderr. Textual is imported only when the wizard actually starts.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from portdoctor import __version__
from portdoctor.argv import (
    SUBCOMMANDS,
    build_parser,
    checks_parser,
    completion_parser,
    explain_parser,
    read_simple,
    schema_parser,
)
from portdoctor.exitcodes import REPORT_BUG, ExitCode, UsageError
from portdoctor.masking import mask_urls_in

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from portdoctor.model import Report, Target

MAX_WORKERS = 32  # targets diagnosed at once


def run() -> None:
    """The ``portdoctor`` command: :func:`main`, then exit without tearing the interpreter down.

    Once the report is written and the streams are flushed, freeing every object and
    module one by one (what a normal exit does) only costs time: about a tenth of a
    ``--report`` run.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A report run is short and bounded: the cycle collector would only cost time (the
    # imports alone trigger dozens of collections). The wizard turns it back on.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return int(_dispatch(argv))
    except UsageError as exc:  # may quote what was typed: masked like a target
        _err(f"portdoctor: error: {mask_urls_in(_one_line(str(exc)))}")
        return ExitCode.USAGE
    except SystemExit as exc:  # --help from argparse
        code = exc.code
        return code if isinstance(code, int) else (ExitCode.OK if code is None else ExitCode.USAGE)
    except KeyboardInterrupt:
        _err("portdoctor: interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (| head); nothing more to say.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return ExitCode.OK
    except Exception as exc:  # the last line of defence against a traceback
        where = _where(exc)
        _err(f"portdoctor: internal error: {type(exc).__name__}: {mask_urls_in(_one_line(str(exc)))} (at {where}); "
             f"{REPORT_BUG}")
        if os.environ.get("PORTDOCTOR_DEBUG"):
            raise
        return ExitCode.INTERNAL
    finally:
        if collecting:
            gc.enable()


def _dispatch(argv: list[str]) -> int:
    # The common forms ("--report db:5432 -o r.json") are read without argparse (see portdoctor.argv).
    args: Any = read_simple(argv)
    if args is None:
        parser = build_parser()
        where = _subcommand_position(parser, argv)
        if where is not None:
            # "portdoctor --checks-dir plug checks" is "portdoctor checks --checks-dir plug":
            # no TARGET is a bare subcommand name (a target always has a port).
            command, rest = argv[where], argv[:where] + argv[where + 1:]
            return {"explain": _cmd_explain, "checks": _cmd_checks, "schema": _cmd_schema,
                    "completion": _cmd_completion}[command](rest)
        args = parse_full(parser, argv)
    if args.version:
        print(f"portdoctor {__version__}")
        if args.verbose:
            _print_self_diagnosis(args)
        return ExitCode.OK

    targets = targets_of(args)
    if args.output is not None and str(args.output) == "-":
        args.output = None  # "-o -" is stdout
    fmt = args.format
    if args.output is not None:
        from portdoctor.output import check_writable
        from portdoctor.render import EXTENSIONS

        check_writable(args.output)
        if fmt is None:
            fmt = EXTENSIONS.get(args.output.suffix.lower(), "text")
    fmt = fmt or "text"

    if args.ssh or args.from_hosts:
        from portdoctor.remote.cli import check_remote_args

        check_remote_args(args)
    if _interactive(args):
        from portdoctor.api import Options
        from portdoctor.tui import run_wizard  # deferred: Textual costs ~0.3 s to import

        gc.enable()  # a long-lived UI: collect cycles as usual
        return run_wizard(targets, Options(timeout=args.timeout, expect=args.expect), check_dirs=args.checks_dir)
    if args.wait is not None:
        return _run_wait(targets, args, fmt)
    return _run_report(targets, args, fmt)


def targets_of(args: Any) -> list[Target]:
    """The run's targets: TARGET arguments, --targets-file, --from-log; containers located.

    Raises UsageError when there are none or too many.
    """
    from portdoctor.target import read_target

    texts = list(args.targets)
    if args.targets_file is not None:
        texts += read_targets_file(args.targets_file)
    if len(texts) > MAX_TARGETS:  # --from-log adds at most its own MAX_ENDPOINTS
        raise UsageError(f"{len(texts)} targets: at most {MAX_TARGETS} in one run (split the list)")
    targets = [t for text in texts for t in read_target(text)]
    if args.from_log is not None:
        from portdoctor.message import targets_from_text

        found, notes = targets_from_text(read_log(args.from_log), what=f"log {args.from_log}")
        for note in notes:
            _err(f"portdoctor: {mask_urls_in(_one_line(note))}")
        targets += found
    if not targets:
        raise UsageError("no TARGET given, e.g. 'portdoctor 127.0.0.1:8080'")
    if any(t.container for t in targets):  # container:NAME[:PORT]: the engine says where it is reached
        from portdoctor.facts.engine import locate_container

        targets = [locate_container(t) if t.container else t for t in targets]
    return targets


def parse_full(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """argparse's reading of the main command (what :func:`~portdoctor.argv.read_simple` does not read)."""
    # Intermixed: "portdoctor db:5432 --report cache:6379" names two targets.
    # Everything after "--" is a TARGET, even when it starts with "-" (argparse's
    # intermixed parsing would read "-- --vers" as --version).
    after_dashes: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, after_dashes = argv[:cut], argv[cut + 1:]
    args = parser.parse_intermixed_args(argv)
    args.targets = list(args.targets) + after_dashes
    return args


def _subcommand_position(parser: argparse.ArgumentParser, argv: list[str]) -> int | None:
    """Where in ``argv`` the first positional token is, when it names a subcommand.

    Options are skipped with their values (``-o FILE``, ``--timeout=2``, ``-vo FILE``,
    unambiguous abbreviations such as ``--checks DIR``), so ``-o checks`` is still a file
    named "checks". Nothing after ``--`` is a subcommand.
    """
    takes_value: dict[str, bool] = {}
    for action in parser._actions:  # the option table argparse itself uses
        for option in action.option_strings:
            takes_value[option] = action.nargs != 0
    long_options = [o for o in takes_value if o.startswith("--")]
    skip_next = False
    for index, token in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if token == "--":
            return None
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            if name not in takes_value:
                matches = [o for o in long_options if o.startswith(name)]
                name = matches[0] if len(matches) == 1 else name
            skip_next = "=" not in token and takes_value.get(name, False)
            continue
        if token.startswith("-") and len(token) > 1:  # -v, -o FILE, -oFILE, -vo FILE
            for at, letter in enumerate(token[1:], start=1):
                if takes_value.get(f"-{letter}", False):
                    skip_next = at == len(token) - 1
                    break
            continue
        return index if token in SUBCOMMANDS else None
    return None


def read_targets_file(path: Path) -> list[str]:
    """Targets from a file: one per line; blank lines and ``#`` comments ignored.

    A ``#`` starts a comment at the start of a line or after whitespace, so URL
    fragments (``http://x/#top``) survive.
    """
    data = read_bounded(str(path), "targets file", MAX_TARGETS_FILE_BYTES)
    if len(data) > MAX_TARGETS_FILE_BYTES:
        raise UsageError(f"targets file {path} is larger than {MAX_TARGETS_FILE_BYTES // 1024} KiB")
    try:
        content = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeError as exc:
        raise UsageError(f"cannot read targets file {path}: {exc}") from None
    targets = []
    for line in content.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        for marker in (" #", "\t#"):
            if marker in stripped:
                stripped = stripped.split(marker, 1)[0].strip()
        targets.append(stripped)
    if not targets:
        raise UsageError(f"targets file {path} names no target")
    return targets


MAX_TARGETS_FILE_BYTES = 1024 * 1024
MAX_TARGETS = 100  # per run: each target costs a diagnosis; a run stays bounded by the clock


def read_bounded(name: str, what: str, limit: int) -> bytes | str:
    """At most ``limit + 1`` bytes of ``name`` (``-``: stdin); only regular files are read.

    A FIFO, a device (``/dev/zero``) or a directory could block or never end: refused
    with a usage error.
    """
    import stat

    if name == "-":
        return sys.stdin.buffer.read(limit + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read(limit + 1)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {what} {name}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"cannot read {what} {name}: not a regular file (use '-' to read stdin)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_log(name: str) -> str:
    """The text of ``--from-log FILE`` (``-``: stdin), bounded; only regular files are read.

    A FIFO, a device or a directory could block or never end: refused with a usage error.
    """
    from portdoctor.message import MAX_TEXT_BYTES

    data = read_bounded(name, "log", MAX_TEXT_BYTES)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def _interactive(args: Any) -> bool:
    if args.report or args.output is not None or args.format is not None:
        return False
    if args.ssh or args.from_hosts:  # the wizard does not drive other machines (yet)
        return False
    if args.wait is not None or args.exit_zero or args.fail_on != "fail":
        return False
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    if os.environ.get("TERM", "") == "dumb":  # Emacs shells, some IDE consoles: no full-screen UI
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def diagnose_all(targets: list[Target], args: Any) -> list[Report]:
    """Every target diagnosed concurrently (threads); reports in the targets' order."""
    from portdoctor.facts.machine import MachineFacts

    machine = MachineFacts()  # rules, interfaces, namespaces: read once for every target
    if any(t.protocol != "unix" for t in targets):
        machine.start_rule_dumps()  # nft and iptables-save run while the checks are loaded

    from portdoctor.api import Options
    from portdoctor.bounded import parallel_map
    from portdoctor.pipeline import diagnose
    from portdoctor.plugins import discover

    checks, plugin_errors = discover(args.checks_dir)
    for error in plugin_errors:
        _err(f"portdoctor: {_one_line(str(error))}")
    options = Options(timeout=args.timeout, expect=args.expect)

    def one(target: Target) -> Report:
        return diagnose(target, checks, options, plugin_errors=plugin_errors, machine=machine)

    return parallel_map(one, targets, max_workers=MAX_WORKERS)


def _run_wait(targets: list[Target], args: Any, fmt: str) -> int:
    from portdoctor.wait import Progress, failing_lines, wait_until_up

    progress = Progress(sys.stderr)
    result = wait_until_up(targets, args.wait, args.timeout, progress)
    if result.ready:
        if progress.live or len(targets) > 1:  # a log already has one "is up" line per target
            what = targets[0].display if len(targets) == 1 else f"all {len(targets)} targets"
            progress.finish(f"portdoctor: {what} {'is' if len(targets) == 1 else 'are'} up "
                            f"after {result.elapsed:.1f} s")
        for line in failing_lines(result):  # the clients the resolver-order rule leaves out
            progress.finish(line)
        # A report only when one was asked for; otherwise '--wait 30 db:5432 && run-tests' stays quiet.
        if args.output is not None or args.format is not None or args.save or args.expect:
            return _run_report(targets, args, fmt)
        return ExitCode.OK
    still = ", ".join(f"{k} {v}" for k, v in result.states.items() if v != "up")
    progress.finish(f"portdoctor: gave up after {args.wait:g} s ({still}); diagnosing")
    return _run_report(targets, args, fmt)


def _run_report(targets: list[Target], args: Any, fmt: str) -> int:
    if args.ssh or args.from_hosts:
        from portdoctor.remote.cli import diagnose_remote

        reports = diagnose_remote(targets, args, diagnose_all)
    else:
        reports = diagnose_all(targets, args)
    from portdoctor.render import ci, github, render

    document = render(reports, fmt, verbose=args.verbose)  # plain: what -o and --save keep
    runner = ci.detect()

    if args.output is not None:
        from portdoctor.output import write_report

        write_report(args.output, document)
        _err(f"portdoctor: report written to {args.output}")
    else:
        color = fmt == "text" and _use_color(args.color, sys.stdout)
        sys.stdout.write(ci.stdout_document(reports, fmt, document, runner, color=color,
                                            stdout_is_file=not github.stdout_goes_to_runner(sys.stdout),
                                            verbose=args.verbose))
        sys.stdout.flush()

    if runner.github:
        stream = ci.annotations_stream(fmt, to_file=args.output is not None, stdout=sys.stdout, stderr=sys.stderr)
        ci.github_extras(reports, annotations_to=stream, notes_to=sys.stderr)
    if args.save:
        from portdoctor.output import save_report

        label = targets[0].display if len(targets) == 1 else f"{len(targets)}-targets"
        path = save_report(document, fmt, label)
        _err(f"portdoctor: report saved to {path}")
    return exit_code(reports, args.fail_on, args.exit_zero)


def exit_code(reports: list[Report], fail_on: str = "fail", exit_zero: bool = False) -> int:
    """The contract's exit code for these reports, after --fail-on and --exit-zero."""
    if exit_zero:
        return ExitCode.OK
    from portdoctor.model import Status

    failed = any(r.failed or r.unverified for r in reports)  # a check that could not run is not a pass
    if fail_on == "warn":
        failed = failed or any(f.status is Status.WARN for r in reports for f in r.findings)
    return ExitCode.PROBLEM if failed else ExitCode.OK


def _use_color(choice: str, stream: object, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if choice == "always":
        return True
    if choice == "never":
        return False
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and environ.get("TERM") != "dumb"


def _cmd_explain(argv: list[str]) -> int:
    args = explain_parser().parse_args(argv)
    from portdoctor.causes import CAUSES
    from portdoctor.explain import page

    if args.cause is None:
        width = max(len(n) for n in CAUSES)
        for cause in CAUSES.values():
            print(f"{cause.name:<{width}}  {cause.summary}")
        return ExitCode.OK
    cause = args.cause.strip().lower().replace("_", "-")  # "NOT-LISTENING", as the verdict prints it
    if cause not in CAUSES:
        raise UsageError(f"unknown cause {args.cause!r}; known causes: {', '.join(CAUSES)}")
    sys.stdout.write(page(cause))
    return ExitCode.OK


def _cmd_checks(argv: list[str]) -> int:
    args = checks_parser().parse_args(argv)
    from portdoctor.plugins import discover

    checks, errors = discover(args.checks_dir)
    width = max((len(c.check.name) for c in checks), default=4)
    for c in checks:
        print(f"{c.check.order:>4}  {c.check.name:<{width}}  {c.check.title}  [{c.origin}: {c.source}]")
    for error in errors:
        print(f"   !  {_one_line(str(error))}")
    return ExitCode.OK


def schema_text() -> str:
    from importlib.resources import files

    return files("portdoctor").joinpath("schema/report.schema.json").read_text(encoding="utf-8")


def _cmd_schema(argv: list[str]) -> int:
    schema_parser().parse_args(argv)
    text = schema_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return ExitCode.OK


def _folder_state(folder: Path) -> str:
    """"present", "absent", or why it cannot be read (never raises)."""
    try:
        return "present" if folder.is_dir() else "absent"
    except (OSError, ValueError) as exc:
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"


def _cmd_completion(argv: list[str]) -> int:
    args = completion_parser().parse_args(argv)
    from portdoctor.completion import script

    sys.stdout.write(script(args.shell))
    return ExitCode.OK


def _print_self_diagnosis(args: Any) -> None:
    """``--version --verbose``: what to paste into a bug report (glances --issue style)."""
    import platform
    import time
    from importlib.metadata import PackageNotFoundError, version

    import portdoctor
    from portdoctor.output import reports_dir
    from portdoctor.plugins import discover, user_checks_dir
    from portdoctor.render import github, gitlab

    def row(label: str, value: object) -> None:
        print(f"  {label:<14}{value}")

    row("python", f"{platform.python_version()} ({sys.executable})")
    row("platform", platform.platform())
    from pathlib import Path

    row("package", Path(portdoctor.__file__).resolve().parent)
    for dist in ("psutil", "platformdirs", "textual"):
        try:
            v = version(dist)
        except PackageNotFoundError:
            v = "not installed"
        note = " (wizard only; not imported for reports)" if dist == "textual" else ""
        row(dist, v + note)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    row("privileged", "yes (root)" if root else "no (other users' sockets are hidden; use sudo)")
    checks_dir = user_checks_dir()
    row("checks folder", f"{checks_dir} ({_folder_state(checks_dir)})")
    row("reports", reports_dir())
    try:
        from importlib.resources import files

        row("schema", files("portdoctor").joinpath("schema/report.schema.json"))
    except Exception as exc:  # noqa: BLE001
        row("schema", f"missing: {exc}")
    ci = "GitHub Actions" if github.active() else "GitLab CI" if gitlab.active() else (
        "generic (CI set)" if os.environ.get("CI") else "none")
    row("CI", ci)
    row("colour", "yes" if _use_color(args.color, sys.stdout) else "no")
    start = time.perf_counter()
    checks, errors = discover(args.checks_dir)
    elapsed = (time.perf_counter() - start) * 1000
    print(f"checks: {len(checks)} loaded, {len(errors)} failed, discovered in {elapsed:.0f} ms")
    width = max((len(c.check.name) for c in checks), default=4)
    for c in checks:
        print(f"  ok    {c.check.order:>4} {c.check.name:<{width}}  {c.origin}: {c.source}")
    for e in errors:
        print(f"  FAIL  {_one_line(str(e))}")


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    frame = None
    while tb is not None:
        frame = tb
        tb = tb.tb_next
    if frame is None:
        return "unknown"
    return f"{os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}"


def _one_line(text: str) -> str:
    from portdoctor.render.common import printable

    lines = text.strip().splitlines()
    return printable(lines[0] if len(lines) == 1 else " ".join(l.strip() for l in lines))


def _err(message: str) -> None:
    from portdoctor.render.github import defuse

    print(defuse(message), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
