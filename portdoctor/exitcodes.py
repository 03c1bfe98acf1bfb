"""Process exit codes (the contract's table) and the usage-error exception."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every target reachable and nothing failed (warnings allowed)
    PROBLEM = 1  # a problem was diagnosed for at least one target
    USAGE = 2  # bad target, bad option, unwritable output path
    INTERNAL = 3  # a bug in portdoctor


class UsageError(Exception):
    """Bad input from the user: printed as one line on stderr, exit code 2."""


# Where an internal error (exit 3) tells the user to go. portdoctor has no public home
# yet, so this names the tracker and what to put in a report rather than invent a URL.
REPORT_BUG = ("please report it on the portdoctor issue tracker with this line and the output of "
              "'portdoctor --version --verbose' (PORTDOCTOR_DEBUG=1 shows the traceback)")
