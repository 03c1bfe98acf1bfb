"""The command line: ``portdoctor TARGET``, ``--report``, ``explain``, ``checks``.

Argument handling, choosing the wizard or the report, exit codes, and the rule that
no error ever leaves as a traceback: usage errors are one line and exit 2, bugs are
one line naming where to report them and exit 3. Textual is imported only when the
wizard actually starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from portdoctor import __version__
from portdoctor.exitcodes import ISSUES_URL, ExitCode, UsageError

SUBCOMMANDS = ("explain", "checks")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="portdoctor",
        description="Why is a connection to host:port refused or hanging, and what to do now.",
        epilog="Subcommands: 'portdoctor explain CAUSE', 'portdoctor checks'. "
        "Exit codes: 0 reachable, 1 problem diagnosed, 2 usage error, 3 internal error.",
    )
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="host:port, :port, port, [v6]:port, or a URL (http://, postgres://, udp://...)")
    p.add_argument("--report", action="store_true", help="never interactive: print a report and exit with a code")
    p.add_argument("--format", choices=("text", "markdown", "json", "junit"),
                   help="report format (default: text, or from the -o extension)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report to FILE (atomically)")
    p.add_argument("--save", action="store_true", help="also keep the report in the user's reports folder")
    p.add_argument("--timeout", type=_positive_float, default=2.0, metavar="SECONDS",
                   help="per connection attempt (default 2)")
    p.add_argument("--expect", metavar="NAME", help="the process that should own the port")
    p.add_argument("--wait", type=_positive_float, metavar="SECONDS",
                   help="wait for the target to come up; diagnose if it does not")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour in text output (NO_COLOR and FORCE_COLOR are honoured)")
    p.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                   help="load extra checks from *.py files in DIR (repeatable)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="with --version: versions, paths and every check's origin")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(_dispatch(argv))
    except UsageError as exc:
        _err(f"portdoctor: error: {exc}")
        return ExitCode.USAGE
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
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        where = _where(exc)
        _err(f"portdoctor: internal error: {type(exc).__name__}: {exc} (at {where}); "
             f"please report it at {ISSUES_URL}")
        if os.environ.get("PORTDOCTOR_DEBUG"):
            raise
        return ExitCode.INTERNAL


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] == "explain":
        return _cmd_explain(argv[1:])
    if argv and argv[0] == "checks":
        return _cmd_checks(argv[1:])

    args = build_parser().parse_args(argv)
    if args.version:
        print(f"portdoctor {__version__}")
        if args.verbose:
            _print_debug_info(args)
        return ExitCode.OK

    from portdoctor.target import parse_target

    if not args.targets:
        raise UsageError("no TARGET given, e.g. 'portdoctor 127.0.0.1:8080'")
    targets = [parse_target(t) for t in args.targets]
    fmt = args.format
    if args.output is not None:
        from portdoctor.output import check_writable
        from portdoctor.render import EXTENSIONS

        check_writable(args.output)
        if fmt is None:
            fmt = EXTENSIONS.get(args.output.suffix.lower(), "text")
    fmt = fmt or "text"

    if _interactive(args):
        from portdoctor.tui import run_wizard  # deferred: Textual costs ~0.3 s to import

        return run_wizard(targets, args)
    return _run_report(targets, args, fmt)


def _interactive(args) -> bool:
    if args.report or args.output is not None or args.format is not None:
        return False
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def _run_report(targets, args, fmt: str) -> int:
    from portdoctor.api import Options
    from portdoctor.pipeline import diagnose
    from portdoctor.plugins import discover
    from portdoctor.render import render

    checks, plugin_errors = discover(args.checks_dir)
    for error in plugin_errors:
        _err(f"portdoctor: {error}")
    options = Options(timeout=args.timeout, expect=args.expect)
    reports = [diagnose(t, checks, options, plugin_errors=plugin_errors) for t in targets]

    color = _use_color(args.color, sys.stdout) and fmt == "text" and args.output is None
    text = render(reports, fmt, color=color)
    if args.output is not None:
        from portdoctor.output import write_atomic

        write_atomic(args.output, text)
        _err(f"portdoctor: report written to {args.output}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.save:
        from portdoctor.output import save_report

        label = targets[0].display if len(targets) == 1 else f"{len(targets)}-targets"
        path = save_report(text if args.output is None or fmt else text, fmt, label)
        _err(f"portdoctor: report saved to {path}")
    return ExitCode.PROBLEM if any(r.failed for r in reports) else ExitCode.OK


def _use_color(choice: str, stream) -> bool:
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


def _cmd_explain(argv: list[str]) -> int:
    p = _Parser(prog="portdoctor explain", description="What a cause means, why it happens, how to fix it.")
    p.add_argument("cause", nargs="?", help="a cause name; omit to list them")
    args = p.parse_args(argv)
    from portdoctor.causes import CAUSES
    from portdoctor.explain import page

    if args.cause is None:
        width = max(len(n) for n in CAUSES)
        for cause in CAUSES.values():
            print(f"{cause.name:<{width}}  {cause.summary}")
        return ExitCode.OK
    if args.cause not in CAUSES:
        raise UsageError(f"unknown cause {args.cause!r}; known causes: {', '.join(CAUSES)}")
    sys.stdout.write(page(args.cause))
    return ExitCode.OK


def _cmd_checks(argv: list[str]) -> int:
    p = _Parser(prog="portdoctor checks", description="The checks that would run, and where each came from.")
    p.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR")
    args = p.parse_args(argv)
    from portdoctor.plugins import discover

    checks, errors = discover(args.checks_dir)
    width = max((len(c.check.name) for c in checks), default=4)
    for c in checks:
        print(f"{c.check.order:>4}  {c.check.name:<{width}}  {c.check.title}  [{c.origin}: {c.source}]")
    for error in errors:
        print(f"   !  {error}")
    return ExitCode.OK


def _print_debug_info(args) -> None:
    import platform

    from portdoctor.plugins import discover, user_checks_dir

    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"platform {platform.platform()}")
    for dist in ("textual", "psutil", "platformdirs"):
        try:
            from importlib.metadata import version

            print(f"{dist} {version(dist)}")
        except Exception:  # noqa: BLE001
            print(f"{dist} not installed")
    print(f"user checks folder {user_checks_dir()}")
    checks, errors = discover(args.checks_dir)
    for c in checks:
        print(f"check {c.check.name} ({c.origin}: {c.source})")
    for e in errors:
        print(f"check error: {e}")


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    frame = None
    while tb is not None:
        frame = tb
        tb = tb.tb_next
    if frame is None:
        return "unknown"
    return f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}"


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
