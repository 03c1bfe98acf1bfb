"""A model of how the GitHub Actions runner reads a job log: which workflow commands it acts on.

Used by the CI tests (unit and lab) to prove that nothing portdoctor prints can act as a
command: ``::error::`` at a line start (v2), ``##[error]`` anywhere (v1), and what
``::stop-commands::TOKEN`` ... ``::TOKEN::`` switches off.
"""

from __future__ import annotations

import re

REGISTERED = {"error", "warning", "notice", "debug", "group", "endgroup", "add-mask", "add-path", "set-env",
              "set-output", "save-state", "add-matcher", "remove-matcher", "echo", "stop-commands"}
# .NET char.IsWhiteSpace: what TrimStart removes.
_DOTNET_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _parse(line: str, registered: set[str]) -> tuple[str, str] | None:
    """(command name, line) as ActionCommand.TryParseV2, then TryParse, would; else None."""
    trimmed = line.lstrip(_DOTNET_SPACE)
    if trimmed.startswith("::"):
        end = trimmed.find("::", 2)
        if end >= 0:
            name = trimmed[2:end].split(" ", 1)[0]
            if name.lower() in registered:
                return name.lower(), trimmed
    start = line.find("##[")
    if start >= 0:
        close = line.find("]", start)
        if close >= 0:
            name = line[start + 3:close].split(" ", 1)[0]
            if name.lower() in registered:
                return name.lower(), line
    return None


def runner_commands(text: str) -> list[tuple[str, str]]:
    """Every (name, line) the runner would act on, stop/resume included, in order."""
    acted: list[tuple[str, str]] = []
    registered = set(REGISTERED)
    stop_token = None
    for line in re.split(r"\r\n|\r|\n", text):
        parsed = _parse(line, registered)
        if parsed is None:
            continue
        name, body = parsed
        if stop_token is not None:
            if name == stop_token:
                acted.append(("resume", body))
                registered.discard(stop_token)
                stop_token = None
            continue
        if name == "stop-commands":
            data = body.split("::", 2)[2] if body.startswith("::") else body.split("]", 1)[1]
            stop_token = data.lower()
            registered.add(stop_token)
        acted.append((name, body))
    assert stop_token is None, "stop-commands never resumed"
    return acted


def commands_outside_stop(text: str) -> list[str]:
    """The workflow commands the runner would act on, stop-commands and resume left out."""
    return [body for name, body in runner_commands(text) if name not in ("stop-commands", "resume")]
