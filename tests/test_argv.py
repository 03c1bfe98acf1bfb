"""The fast reader of the command line (portdoctor.argv.read_simple) agrees with argparse.

``read_simple`` either returns exactly what argparse's parser returns for the same
argument list, or ``None`` (then the CLI asks argparse). Generated argument lists mix
every option of the table, spelled in full, abbreviated, with ``=``, with good and bad
values, with targets, subcommand names, ``--``, ``-h`` and combined short options.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portdoctor.argv import OPTIONS, build_parser, read_simple
from portdoctor.cli import _subcommand_position, parse_full
from portdoctor.exitcodes import UsageError

FLAGS = [flag for option in OPTIONS for flag in option.flags]
VALUES = ["3", "0.5", "0", "-1", "abc", "inf", "nan", "json", "text", "xml", "warn", "fail", "never", "always",
          "r.json", "dir", "-", "--", "user@host", "@hosts.txt", "postgres", ""]
TARGETS = ["127.0.0.1:5432", "db:5432", ":8080", "5432", "[::1]:80", "unix:///run/x.sock", "checks", "explain",
           "-x", "-", "http://u:p@h:1/"]
ODD = ["--", "-h", "--help", "--rep", "--time", "-vo", "-oFILE", "-v", "--verbose=1", "--report=yes", "-vv"]


def argparse_reading(argv: list[str]) -> dict | str:
    """What the full argparse path makes of ``argv``: the arguments, "subcommand" or "error"."""
    parser = build_parser()
    if _subcommand_position(parser, argv) is not None:
        return "subcommand"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return vars(parse_full(parser, list(argv)))
    except (UsageError, SystemExit):
        return "error"


token = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(VALUES),
    st.sampled_from(TARGETS),
    st.sampled_from(ODD),
    st.builds(lambda f, v: f"{f}={v}", st.sampled_from([f for f in FLAGS if f.startswith("--")]), st.sampled_from(VALUES)),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(token, max_size=8))
def test_read_simple_agrees_with_argparse_or_steps_aside(argv):
    simple = read_simple(argv)
    if simple is not None:
        assert vars(simple) == argparse_reading(argv)


@pytest.mark.parametrize("argv", [
    ["--report", "127.0.0.1:5432"],
    ["127.0.0.1:5432", "--report", "db:6379"],
    ["--report", "--format", "json", "-o", "r.json", "--timeout=3", "db:5432"],
    ["--report", "-v", "--expect", "postgres", "--fail-on", "warn", ":5432"],
    ["--wait", "30", "db:5432", "--exit-zero", "--color", "never"],
    ["--report", "--checks-dir", "a", "--checks-dir=b", "--ssh", "user@host", "--ssh-sudo", "db:5432"],
])
def test_the_common_forms_are_read_without_argparse(argv):
    simple = read_simple(argv)
    assert simple is not None
    assert vars(simple) == argparse_reading(argv)


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--rep", "db:1"], ["--", "-x:1"], ["checks"], ["--timeout", "0", "db:1"],
    ["--format", "xml", "db:1"], ["-o"], ["-vo", "f", "db:1"], ["--version"],
])
def test_everything_else_goes_to_argparse(argv):
    assert read_simple(argv) is None or argv == ["--version"]
