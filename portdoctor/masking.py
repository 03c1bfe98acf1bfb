"""Masking secrets in command lines before they reach a report.

:func:`mask_command_line` replaces the values of password-, token-, secret- and
key-like arguments and the credentials in URLs with ``***``. Reports are pasted
into tickets and chat, so a process's command line must never carry a secret
out of the machine.
"""

from __future__ import annotations

import re

MASK = "***"

# A word that makes an option or variable name sensitive.
_SENSITIVE = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|" \
             r"auth|credentials?|key)"

# scheme://user:pass@host  ->  scheme://user:***@host ; scheme://token@host -> scheme://***@host
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s:@/]*)(?::(?P<pw>[^\s@/]*))?@")

# NAME=value where NAME contains a sensitive word (DB_PASSWORD=x, --api-key=x, token=x,
# -Dmy.secret=x). The value runs to the next whitespace.
_ASSIGNMENT = re.compile(
    r"(?P<name>(?:^|(?<=\s))[-\w.]*" + _SENSITIVE + r"[-\w.]*=)(?P<value>\S+)", re.IGNORECASE)

# --password value, -p value is too ambiguous; only long options naming a sensitive word.
_OPTION_VALUE = re.compile(
    r"(?P<name>(?:^|(?<=\s))--?[-\w.]*" + _SENSITIVE + r"[-\w.]*)(?P<sep>\s+)(?P<value>(?!-)\S+)", re.IGNORECASE)

# Authorization headers: "Authorization: Bearer xyz", "-H 'Authorization: Basic abc'".
_AUTH_HEADER = re.compile(r"(?P<name>authorization:\s*(?:bearer|basic|token)?\s*)(?P<value>[^\s'\"]+)", re.IGNORECASE)


def mask_command_line(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``***``."""
    if not text:
        return text

    def url(m: re.Match) -> str:
        if m.group("pw") is not None:
            return f"{m.group('scheme')}{m.group('user')}:{MASK}@"
        return f"{m.group('scheme')}{MASK}@"  # a lone user part is often a token

    text = _URL_CREDENTIALS.sub(url, text)
    text = _AUTH_HEADER.sub(lambda m: m.group("name") + MASK, text)
    text = _ASSIGNMENT.sub(lambda m: m.group("name") + MASK, text)
    text = _OPTION_VALUE.sub(lambda m: m.group("name") + m.group("sep") + MASK, text)
    return text
