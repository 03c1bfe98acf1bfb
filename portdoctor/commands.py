"""Suggested commands made safe to paste, for every check (built-in or plugin).

:func:`tidy` runs over each finding's remediation once the checks are done:

- an IPv6 literal in brackets (``portdoctor [::1]:8000``) is shell-quoted
  (``'[::1]:8000'``): zsh treats unquoted brackets as a glob and stops with
  "no matches found";
- a leading ``sudo`` is dropped when portdoctor already runs as root (the user
  pastes what they see, in the shell they ran portdoctor from).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from portdoctor.lazyre import lazy
from portdoctor.model import Finding

# What shlex.quote leaves unquoted (its _find_unsafe).
_UNSAFE = lazy(r"[^\w@%+=:,./-]", re.ASCII)


def shell_quote(word: str) -> str:
    """``shlex.quote``: ``word`` as one shell word (``'it'"'"'s'``), unchanged when it is safe.

    Here because importing :mod:`shlex` costs a report more than the four lines.
    """
    if not word:
        return "''"
    if _UNSAFE.search(word) is None:
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


# A word holding "[hex:...]" that is not already inside quotes.
_BRACKETED_WORD = lazy(r"(?<![^\s])([^\s'\"]*\[[\w.%]*:[\w:.%]*\][^\s'\"]*)(?![^\s])")


def quote_brackets(command: str) -> str:
    """``portdoctor [::1]:8000`` -> ``portdoctor '[::1]:8000'``; quoted words stay as they are."""
    if "[" not in command:
        return command
    out, pos = [], 0
    for quoted in re.finditer(r"'[^']*'|\"[^\"]*\"", command):  # leave quoted parts alone
        out.append(_BRACKETED_WORD.sub(lambda m: shell_quote(m.group(1)), command[pos:quoted.start()]))
        out.append(quoted.group(0))
        pos = quoted.end()
    out.append(_BRACKETED_WORD.sub(lambda m: shell_quote(m.group(1)), command[pos:]))
    return "".join(out)


def without_sudo(command: str) -> str:
    """``sudo ss -ltnp`` -> ``ss -ltnp``; ``sudo -u postgres psql`` keeps its sudo (another user)."""
    if command.startswith("sudo ") and not command[5:].lstrip().startswith("-"):
        return command[5:].lstrip()
    return command


def tidy(findings: Iterable[Finding], *, as_root: bool) -> None:
    """Rewrite every remediation command of ``findings`` in place (see the module docstring)."""
    for finding in findings:
        for step in finding.remediation:
            if step.command:
                command = quote_brackets(step.command)
                step.command = without_sudo(command) if as_root else command
