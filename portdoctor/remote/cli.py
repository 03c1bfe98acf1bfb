"""The command line's hooks for ``--ssh`` / ``--from`` (kept here so cli.py stays small)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from portdoctor.exitcodes import UsageError

if TYPE_CHECKING:
    import argparse

    from portdoctor.model import Report, Target
    from portdoctor.remote.destination import Destination


def check_remote_args(args: argparse.Namespace) -> None:
    """Usage errors first: bad destinations, unreadable lists or config, options that do not combine."""
    if args.ssh and args.from_hosts:
        raise UsageError("--ssh and --from do not combine: --ssh adds the server side to a diagnosis from here, "
                         "--from runs the whole diagnosis there")
    if args.wait is not None:
        raise UsageError("--wait does not combine with --ssh/--from")
    if args.checks_dir and args.from_hosts:
        raise UsageError("--checks-dir does not combine with --from: only the built-in checks are sent")
    if args.ssh_config is not None and not os.path.isfile(args.ssh_config):
        raise UsageError(f"--ssh-config {args.ssh_config}: no such file")
    args.ssh_destinations = _destinations(args.ssh)
    args.from_destinations = _destinations(args.from_hosts)


def _destinations(specs: list[str]) -> list[Destination]:
    from portdoctor.remote.destination import MAX_HOSTS, read_destinations

    out = []
    for spec in specs:
        out.extend(read_destinations(spec))
    out = list(dict.fromkeys(out))
    if len(out) > MAX_HOSTS:
        raise UsageError(f"{len(out)} hosts named; at most {MAX_HOSTS}")
    return out


def diagnose_remote(targets: list[Target], args: argparse.Namespace,
                    diagnose_all: Callable[[list[Target], argparse.Namespace], list[Report]]) -> list[Report]:
    from portdoctor.remote.combine import run_from, run_ssh
    from portdoctor.remote.transport import SshOptions

    options = SshOptions(connect_timeout=args.ssh_timeout, deadline=args.ssh_deadline,
                         config=args.ssh_config, sudo=args.ssh_sudo)
    if args.from_hosts:
        return run_from(targets, args.from_destinations, options, timeout=args.timeout, expect=args.expect)
    return run_ssh(targets, args.ssh_destinations, options, lambda ts: diagnose_all(ts, args),
                   timeout=args.timeout, expect=args.expect)
