"""Masking secrets in command lines and URL targets before they reach a report.

:func:`mask_command_line` replaces the values of password-, token-, secret- and
key-like arguments, URL query parameters of that kind and the credentials in URLs
with ``***``. :func:`mask_url` does the same for one TARGET as typed (the password of
``user:password@``, ``?password=…``, ``&token=…``, ``#access_token=…``), keeping a lone
``user@`` as it is; :func:`mask_urls_in` masks every URL inside an error message.
Reports and CI logs are pasted into tickets and chat, so neither a process's command
line nor a target may carry a secret out of the machine.
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

# A URL query or fragment parameter naming a sensitive word (?password=x, &sslpassword=x,
# ;token=x, #access_token=x). The value runs to the next parameter, fragment or whitespace.
_QUERY_PARAMETER = re.compile(
    r"(?P<name>[?&;#][-\w.]*" + _SENSITIVE + r"[-\w.]*=)(?P<value>[^&;#\s'\"]+)", re.IGNORECASE)

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
    text = _mask_query_parameters(text)
    text = _AUTH_HEADER.sub(lambda m: m.group("name") + MASK, text)
    text = _ASSIGNMENT.sub(lambda m: m.group("name") + MASK, text)
    text = _OPTION_VALUE.sub(lambda m: m.group("name") + m.group("sep") + MASK, text)
    return text


def mask_url(text: str) -> str:
    """A TARGET as typed, with its password and secret query parameters replaced by ``***``.

    ``postgres://alice:pw@db/app?sslpassword=x`` becomes
    ``postgres://alice:***@db/app?sslpassword=***``. The userinfo is what precedes the
    last ``@`` of the authority (which ends at the first ``/``, ``?`` or ``#``, as in RFC
    3986), with or without a ``scheme://``; a user without a password (``alice@db``) is
    kept, as are ordinary parameters and fragments.
    """
    if not text:
        return text
    # After "scheme://" if there is one (whatever precedes it: a stray space or control
    # character must not move the password out of reach), else from the start.
    scheme_end = text.find("://")
    start = scheme_end + 3 if scheme_end >= 0 and not _AUTHORITY_END.search(text, 0, scheme_end) else 0
    authority_end = _AUTHORITY_END.search(text, start)
    end = authority_end.start() if authority_end else len(text)
    at = text.rfind("@", start, end)
    if at >= 0:
        user, sep, _password = text[start:at].partition(":")
        if sep:
            text = f"{text[:start]}{user}:{MASK}{text[at:]}"
    return _mask_query_parameters(text)


_AUTHORITY_END = re.compile(r"[/?#]")


def mask_urls_in(text: str) -> str:
    """Free text (an error message) with the password and secret parameters of every URL in it masked.

    Like :func:`mask_url`, a lone ``user@`` is kept; used as the last guard before a
    message that may quote what the user typed is printed.
    """
    if not text:
        return text

    def url(m: re.Match) -> str:
        if m.group("pw") is None:
            return m.group(0)
        return f"{m.group('scheme')}{m.group('user')}:{MASK}@"

    return _mask_query_parameters(_URL_CREDENTIALS.sub(url, text))


def _mask_query_parameters(text: str) -> str:
    return _QUERY_PARAMETER.sub(lambda m: m.group("name") + MASK, text)
