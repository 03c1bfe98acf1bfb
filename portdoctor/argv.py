"""The command line's options, as one table: argparse's parser is built from it, and
:func:`read_simple` reads the common forms without importing argparse. The subcommands'
parsers are here too: the completion scripts and the man page read them all from here.

``portdoctor --report db:5432`` is the command CI runs most; building argparse's parser
(and the ``shutil``, ``gettext`` and ``locale`` imports it makes) was a tenth of that
run. :func:`read_simple` reads an argument list made only of the table's options
spelled out in full (``--timeout 3``, ``--timeout=3``, ``-o FILE``, ``-v``) and targets.
Anything else (``--help``, an abbreviation, ``--``, a bad value, a subcommand, combined
short options) returns ``None`` and the caller asks argparse, which then gives its usual
answer or one-line error. ``tests/test_argv.py`` holds the two readers to the same
result on generated argument lists.
"""

from __future__ import annotations

from portdoctor.records import dataclass

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

SUBCOMMANDS = ("explain", "checks", "schema", "completion")
SSH_GROUP = "other machines (over SSH; nothing is installed there, python3 is used if present)"


def positive_seconds(text: str) -> float:
    """A ``--timeout``-style value: a positive, finite number of seconds (ValueError otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{text!r} must be a positive number of seconds")
    return value


def a_path(text: str) -> Any:
    """A file or folder option's value, as a :class:`pathlib.Path` (imported only when one is given)."""
    from pathlib import Path

    return Path(text)


@dataclass(frozen=True)
class Option:
    """One option of the main command: its spellings, where it goes, and what it takes."""

    flags: tuple[str, ...]
    dest: str
    action: str = "store"  # "store", "store_true" or "append"
    convert: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    metavar: str | None = None
    help: str = ""
    group: str | None = None

    @property
    def takes_value(self) -> bool:
        return self.action != "store_true"

    def initial(self) -> Any:
        """The value before the command line is read (a fresh list for "append")."""
        if self.action == "store_true":
            return False
        return [] if self.action == "append" else self.default


OPTIONS: tuple[Option, ...] = (
    Option(("--report",), "report", "store_true",
           help="never interactive: print a report and exit with a code"),
    Option(("--format",), "format", choices=("text", "markdown", "json", "junit"),
           help="report format (default: text, or from the -o extension)"),
    Option(("-o", "--output"), "output", convert=a_path, metavar="FILE",
           help="write the report to FILE (atomically; .md .json .xml .txt pick the format)"),
    Option(("--save",), "save", "store_true", help="also keep the report in the user's reports folder"),
    Option(("--timeout",), "timeout", convert=positive_seconds, default=2.0, metavar="SECONDS",
           help="per connection attempt (default 2)"),
    Option(("--expect",), "expect", metavar="NAME", help="the process that should own the port"),
    Option(("--wait",), "wait", convert=positive_seconds, metavar="SECONDS",
           help="wait up to SECONDS for every target to accept; exit 0 when they do, "
           "diagnose (exit 1) when they do not"),
    Option(("--targets-file",), "targets_file", convert=a_path, metavar="FILE",
           help="read more targets from FILE, one per line ('#' comments; '-' for stdin)"),
    Option(("--from-log",), "from_log", metavar="FILE",
           help="diagnose every distinct failing endpoint named in FILE (a log or a pasted traceback; "
           "'-' for stdin)"),
    Option(("--fail-on",), "fail_on", choices=("fail", "warn"), default="fail",
           help="exit 1 on failures only (default) or on warnings too"),
    Option(("--exit-zero",), "exit_zero", "store_true",
           help="exit 0 even when a problem is diagnosed (usage and internal errors still exit 2/3)"),
    Option(("--color",), "color", choices=("auto", "always", "never"), default="auto",
           help="colour in text output (NO_COLOR and FORCE_COLOR are honoured)"),
    Option(("--checks-dir",), "checks_dir", "append", convert=a_path, metavar="DIR",
           help="load extra checks from *.py files in DIR (repeatable)"),
    Option(("--ssh",), "ssh", "append", metavar="[USER@]HOST", group=SSH_GROUP,
           help="also diagnose the same port on HOST (the server side), over SSH; @FILE for a host list "
           "or an Ansible inventory (INI/YAML); repeatable"),
    Option(("--from",), "from_hosts", "append", metavar="[USER@]HOST", group=SSH_GROUP,
           help="run the whole diagnosis on HOST (e.g. the app server that cannot reach the database); "
           "@FILE as for --ssh"),
    Option(("--ssh-config",), "ssh_config", metavar="FILE", group=SSH_GROUP,
           help="the ssh_config file to use (ssh -F FILE)"),
    Option(("--ssh-sudo",), "ssh_sudo", "store_true", group=SSH_GROUP,
           help="run as root on HOST with 'sudo -n' where the user may (no password prompt, ever)"),
    Option(("--ssh-timeout",), "ssh_timeout", convert=positive_seconds, default=5.0, metavar="SECONDS",
           group=SSH_GROUP, help="SSH connect timeout (default 5)"),
    Option(("--ssh-deadline",), "ssh_deadline", convert=positive_seconds, default=60.0, metavar="SECONDS",
           group=SSH_GROUP, help="the longest a remote run may take, connect included (default 60)"),
    Option(("--version",), "version", "store_true", help="print the version and exit"),
    Option(("-v", "--verbose"), "verbose", "store_true",
           help="text report: every check with its detail and every step (default: what did not "
           "pass, and the verdict); with --version: versions, paths and every check's origin"),
)
BY_FLAG = {flag: option for option in OPTIONS for flag in option.flags}


class Arguments:
    """What the command line says, by option name (as argparse's Namespace)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Arguments({', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))})"

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...


def read_simple(argv: Sequence[str]) -> Arguments | None:
    """The arguments, when ``argv`` has only the forms described above; else ``None`` (ask argparse)."""
    values = {option.dest: option.initial() for option in OPTIONS}
    targets: list[str] = []
    tokens = list(argv)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("-"):
            if not targets and token in SUBCOMMANDS:
                return None
            targets.append(token)
            continue
        name, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        option = BY_FLAG.get(name)
        if option is None:  # --help, -h, "--", "-", an abbreviation, -vo, -oFILE, a typo
            return None
        if not option.takes_value:
            if equals:
                return None
            values[option.dest] = True
            continue
        if not equals:
            if index >= len(tokens):
                return None  # argparse says what is missing
            value = tokens[index]
            index += 1
        if value.startswith("-"):
            return None  # argparse reads "-x", "--" and "-1" its own way
        if option.choices is not None and value not in option.choices:
            return None
        if option.convert is not None:
            try:
                value = option.convert(value)
            except ValueError:
                return None
        if option.action == "append":
            values[option.dest].append(value)
        else:
            values[option.dest] = value
    values["targets"] = targets
    return Arguments(**values)


def build_parser() -> argparse.ArgumentParser:
    """The main command's argparse parser (help, errors, completion and the man page read it)."""
    p = parser_class()(
        prog="portdoctor",
        description="Why is a connection to host:port refused or hanging, and what to do now.",
        epilog="Subcommands: 'portdoctor explain CAUSE', 'portdoctor checks', 'portdoctor schema', "
        "'portdoctor completion bash|zsh|fish'. "
        "Exit codes: 0 reachable, 1 problem diagnosed, 2 usage error, 3 internal error.",
    )
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="host:port, :port, port, [v6]:port, a URL (http://, postgres://, udp://...), "
                   "a Unix socket (unix:///run/x.sock or /run/x.sock), or a client's error message in quotes")
    groups: dict[str, Any] = {}
    for option in OPTIONS:
        if option.group is not None and option.group not in groups:
            groups[option.group] = p.add_argument_group(option.group)
        where = p if option.group is None else groups[option.group]
        kwargs: dict[str, Any] = {"dest": option.dest, "help": option.help, "action": option.action}
        if option.action != "store_true":
            kwargs["metavar"] = option.metavar
            if option.convert is not None:
                kwargs["type"] = argparse_type(option.convert)
            if option.choices is not None:
                kwargs["choices"] = option.choices
            kwargs["default"] = option.initial()
        where.add_argument(*option.flags, **kwargs)
    return p


def argparse_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` for argparse: its ValueError message becomes argparse's one-line error."""
    import argparse

    def typed(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    typed.__name__ = getattr(convert, "__name__", "value")
    return typed


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser, by name (the completion scripts and the man page read them too)."""
    return {"explain": explain_parser(), "checks": checks_parser(), "schema": schema_parser(),
            "completion": completion_parser()}


def explain_parser() -> argparse.ArgumentParser:
    p = parser_class()(prog="portdoctor explain", description="What a cause means, why it happens, how to fix it.")
    p.add_argument("cause", nargs="?", metavar="CAUSE", help="a cause name; omit to list them")
    return p


def checks_parser() -> argparse.ArgumentParser:
    p = parser_class()(prog="portdoctor checks", description="The checks that would run, and where each came from.")
    p.add_argument("--checks-dir", type=a_path, action="append", default=[], metavar="DIR",
                   help="also load checks from *.py files in DIR (repeatable)")
    return p


def schema_parser() -> argparse.ArgumentParser:
    return parser_class()(prog="portdoctor schema", description="Print the JSON Schema of the --format json report.")


def completion_parser() -> argparse.ArgumentParser:
    p = parser_class()(prog="portdoctor completion",
                description="Print the shell completion script for bash, zsh or fish "
                "(e.g. 'source <(portdoctor completion bash)').")
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    return p


_PARSER_CLASS: list[type] = []


def parser_class() -> type[argparse.ArgumentParser]:
    """argparse's parser, but a usage error is one line on stderr and exit 2 (a UsageError)."""
    if not _PARSER_CLASS:
        import argparse

        from portdoctor.exitcodes import UsageError

        class Parser(argparse.ArgumentParser):
            def error(self, message: str) -> NoReturn:
                raise UsageError(f"{message} (see '{self.prog} --help')")

        _PARSER_CLASS.append(Parser)
    return _PARSER_CLASS[0]

