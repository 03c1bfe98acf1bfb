"""The manual page (``man portdoctor``), generated from the command line's own parsers.

:func:`manpage` renders roff from :func:`portdoctor.argv.build_parser`,
:func:`portdoctor.argv.subcommand_parsers`, the cause registry and the exit codes, so
``portdoctor --help`` stays the one source. The rendered page is shipped as
``share/man/man1/portdoctor.1`` (a test keeps it equal to this output).
"""

from __future__ import annotations

import argparse


def _roff(text: str) -> str:
    """Plain text as roff: backslashes and hyphens escaped, no line starting a request."""
    text = " ".join(text.split()).replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _flags(action: argparse.Action) -> str:
    metavar = action.metavar or (action.dest.upper() if action.nargs != 0 else None)
    names = ", ".join(f"\\fB{_roff(flag)}\\fR" for flag in action.option_strings)
    if action.nargs == 0:
        return names
    value = "{" + ",".join(str(c) for c in action.choices) + "}" if action.choices else str(metavar)
    return f"{names} \\fI{_roff(value)}\\fR"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    formatter = parser._get_formatter()
    for action in parser._actions:  # the option table argparse itself uses
        if action.help == argparse.SUPPRESS:
            continue
        lines.append(".TP")
        if action.option_strings:
            lines.append(_flags(action))
        else:
            name = "{" + ",".join(str(c) for c in action.choices) + "}" if action.choices else action.metavar or action.dest
            lines.append(f"\\fI{_roff(str(name))}\\fR")
        lines.append(_roff(formatter._expand_help(action) if action.help else ""))
    return lines


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = parser.format_usage().strip()
    return usage.removeprefix("usage: ")


def manpage() -> str:
    from portdoctor import __version__
    from portdoctor.argv import build_parser, subcommand_parsers
    from portdoctor.causes import CAUSES
    from portdoctor.exitcodes import ExitCode

    main = build_parser()
    subs = subcommand_parsers()
    lines = [
        '.\\" Generated from portdoctor\'s argument parser (portdoctor.manpage): do not edit.',
        f'.TH PORTDOCTOR 1 "" "portdoctor {__version__}" "User Commands"',
        ".SH NAME",
        "portdoctor \\- why a connection to host:port is refused or hangs, and what to do now",
        ".SH SYNOPSIS",
        ".nf",
        "\\fBportdoctor\\fR [\\fIOPTIONS\\fR] [\\fITARGET\\fR ...]",
    ]
    lines += [_roff(_usage(p)) for p in subs.values()]
    lines += [
        ".fi",
        ".SH DESCRIPTION",
        _roff(main.description or ""),
        ".PP",
        _roff("In a terminal, portdoctor TARGET opens an interactive wizard; with --report, "
              "in CI, or when output is not a terminal it prints a report and exits with a code."),
        ".SH OPTIONS",
    ]
    lines += _options(main)
    lines.append(".SH COMMANDS")
    for name, parser in subs.items():
        lines += [".SS", f"\\fBportdoctor {name}\\fR", _roff(parser.description or "")]
        lines += _options(parser)
    lines.append(".SH CAUSES")
    lines.append(_roff("The verdict names one of these causes; portdoctor explain CAUSE prints its page."))
    for cause in CAUSES.values():
        lines += [".TP", f"\\fB{_roff(cause.name)}\\fR", _roff(cause.summary)]
    lines.append(".SH EXIT STATUS")
    meaning = {ExitCode.OK: "every target reachable and nothing failed (warnings allowed)",
               ExitCode.PROBLEM: "a problem was diagnosed for at least one target",
               ExitCode.USAGE: "bad target, bad option, or an output path that cannot be written",
               ExitCode.INTERNAL: "a bug in portdoctor (the one-line message says what to report)"}
    for code in ExitCode:
        lines += [".TP", f"\\fB{int(code)}\\fR", _roff(meaning.get(code, code.name.lower()))]
    lines += [
        ".SH ENVIRONMENT",
        ".TP", "\\fBCI\\fR", _roff("when true, never interactive (a report is printed)."),
        ".TP", "\\fBNO_COLOR\\fR, \\fBFORCE_COLOR\\fR", _roff("colour in text output off or on (--color auto)."),
        ".TP", "\\fBPORTDOCTOR_DEBUG\\fR", _roff("set to 1 to see the traceback of an internal error."),
        ".SH SEE ALSO",
        "\\fBss\\fR(8), \\fBnft\\fR(8), \\fBiptables\\-save\\fR(8)",
        "",
    ]
    return "\n".join(lines)
