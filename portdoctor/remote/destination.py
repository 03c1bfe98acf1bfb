"""Where to go: ``[USER@]HOST`` destinations and host lists.

A destination is checked before it reaches ``ssh``'s command line: it may not start
with ``-`` (``-oProxyCommand=...`` would be an option) and holds only the characters
host names, users and addresses use. ``@FILE`` reads many: one destination a line
(``#`` comments), or an Ansible inventory in INI or YAML form.

The YAML reader is a deliberately small subset parser for inventory structure
(nested mappings by indentation, ``hosts:``/``children:``/``vars:``, ``ansible_host``,
``ansible_user``, ``ansible_port``), not a general YAML implementation: anchors, flow
collections, multi-line strings and tags are refused with a one-line error rather than
guessed at. That keeps the report path free of a YAML dependency.
"""

from __future__ import annotations

import re
from pathlib import Path

from portdoctor.exitcodes import UsageError
from portdoctor.records import dataclass

MAX_HOSTS = 1000

_USER = r"[A-Za-z0-9._][A-Za-z0-9._-]{0,63}"
_HOST = r"(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.%A-Za-z]+\]|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*)"
_DESTINATION = re.compile(rf"^(?:(?P<user>{_USER})@)?(?P<host>{_HOST})$")


@dataclass(frozen=True)
class Destination:
    """One SSH destination: a host (name, alias from ssh_config, or address), maybe a user and port."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def label(self) -> str:
        """How reports name it: ``user@host`` (``:port`` when not the default)."""
        text = f"{self.user}@{self.host}" if self.user else self.host
        if self.port:
            text = f"{text}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"
        return text

    def ssh_args(self) -> list[str]:
        """The destination part of ssh's command line (after ``--``)."""
        args = ["-p", str(self.port)] if self.port else []
        return args + ["--", f"{self.user}@{self.host}" if self.user else self.host]


def parse_destination(text: str, *, port: int | None = None) -> Destination:
    """``host``, ``user@host``, ``ssh://user@host:port``, ``user@[v6]``; anything else is a usage error."""
    raw = text.strip()
    if raw.lower().startswith("ssh://"):
        rest = raw[6:].rstrip("/")
        m = re.match(r"^(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:]+)(?::(?P<port>\d{1,5}))?$", rest)
        if not m:
            raise UsageError(f"cannot read SSH destination {text!r}")
        user, host = m.group("user"), m.group("host")
        port = int(m.group("port")) if m.group("port") else port
        raw = f"{user}@{host}" if user else host
    m = _DESTINATION.match(raw)
    if not m or raw.startswith("-"):
        raise UsageError(f"not an SSH destination: {text!r} (expected [USER@]HOST)")
    host = m.group("host")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"SSH port out of range in {text!r}")
    return Destination(host, m.group("user"), port)


def read_destinations(spec: str) -> list[Destination]:
    """``HOST`` → one destination; ``@FILE`` → every destination in the file (list or inventory)."""
    if not spec.startswith("@"):
        return [parse_destination(spec)]
    path = Path(spec[1:])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot read host list {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix.lower() in (".yml", ".yaml") or text.lstrip().startswith(("---", "all:")):
        hosts = parse_yaml_inventory(text, str(path))
    elif path.suffix.lower() in (".ini", ".cfg") or re.search(r"^\s*\[[^\]]+\]\s*$", text, re.M) or \
            re.search(r"\bansible_\w+=", text):
        hosts = parse_ini_inventory(text, str(path))
    else:
        hosts = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if line:
                hosts.append(_in_file(line, path, number))
    unique = list(dict.fromkeys(hosts))
    if not unique:
        raise UsageError(f"host list {path} names no host")
    if len(unique) > MAX_HOSTS:
        raise UsageError(f"host list {path} names {len(unique)} hosts; at most {MAX_HOSTS}")
    return unique


def _in_file(text: str, path: Path | str, number: int, port: int | None = None) -> Destination:
    try:
        return parse_destination(text, port=port)
    except UsageError as exc:
        raise UsageError(f"{path}:{number}: {exc}") from None


def _from_vars(name: str, variables: dict[str, str], path: str, number: int) -> Destination:
    host = variables.get("ansible_host") or variables.get("ansible_ssh_host") or name
    user = variables.get("ansible_user") or variables.get("ansible_ssh_user")
    port_text = variables.get("ansible_port") or variables.get("ansible_ssh_port")
    port = None
    if port_text:
        if not str(port_text).isdigit():
            raise UsageError(f"{path}:{number}: ansible_port {port_text!r} is not a number")
        port = int(port_text)
    return _in_file(f"{user}@{host}" if user else str(host), path, number, port=port)


def parse_ini_inventory(text: str, path: str = "inventory") -> list[Destination]:
    """Hosts of an Ansible INI inventory: host lines in groups, ``:vars`` and ``:children`` skipped.

    Host ranges (``web[01:03]``) are expanded; ``ansible_host``/``ansible_user``/``ansible_port``
    on the host line are honoured. Group variables are not applied (say them per host).
    """
    hosts: list[Destination] = []
    section = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section.endswith((":vars", ":children")):
            continue
        fields = line.split()
        variables = {}
        for item in fields[1:]:
            if "=" in item:
                key, _, value = item.partition("=")
                variables[key] = value.strip("'\"")
        for name in _expand_range(fields[0], path, number):
            hosts.append(_from_vars(name, variables, path, number))
    return hosts


def _expand_range(name: str, path: str, number: int) -> list[str]:
    m = re.search(r"\[([0-9a-z]+):([0-9a-z]+)(?::(\d+))?\]", name)
    if not m:
        return [name]
    start, end, step = m.group(1), m.group(2), int(m.group(3) or 1)
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        values = [str(i).zfill(width) for i in range(int(start), int(end) + 1, max(step, 1))]
    elif len(start) == 1 and len(end) == 1:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, max(step, 1))]
    else:
        raise UsageError(f"{path}:{number}: cannot expand host range {name!r}")
    if len(values) > MAX_HOSTS:
        raise UsageError(f"{path}:{number}: host range {name!r} names more than {MAX_HOSTS} hosts")
    out: list[str] = []
    for value in values:
        out.extend(_expand_range(name[:m.start()] + value + name[m.end():], path, number))
    return out


def parse_yaml_inventory(text: str, path: str = "inventory") -> list[Destination]:
    """Hosts of an Ansible YAML inventory (the structure subset; see the module docstring)."""
    root = _parse_yaml_mapping(text, path)
    hosts: dict[str, tuple[dict, int]] = {}

    def walk_group(group: object, depth: int) -> None:
        if depth > 50 or not isinstance(group, dict):
            return
        members = group.get("hosts")
        if isinstance(members, dict):
            for name, variables in members.items():
                merged = dict(hosts.get(name, ({}, 0))[0])
                if isinstance(variables, dict):
                    merged.update({k: v for k, v in variables.items() if isinstance(v, str)})
                hosts[name] = (merged, 0)
        children = group.get("children")
        if isinstance(children, dict):
            for child in children.values():
                walk_group(child, depth + 1)

    for group in root.values():
        walk_group(group, 0)
    out = []
    for name, (variables, _) in hosts.items():
        for expanded in _expand_range(name, path, 0):
            out.append(_from_vars(expanded, variables, path, 0))
    return out


def _parse_yaml_mapping(text: str, path: str) -> dict:
    """Block mappings by indentation, plain or quoted scalars. Anything else: a usage error."""
    root: dict = {}
    stack: list[tuple[int, dict]] = [(-1, root)]
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#") or raw.strip() in ("---", "..."):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise UsageError(f"{path}:{number}: tabs are not allowed for indentation in YAML")
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if line.startswith("- ") or line == "-" or line[:1] in "&*!|>{[":
            raise UsageError(f"{path}:{number}: unsupported YAML here ({line[:30]!r}); the inventory reader takes "
                             "block mappings with plain or quoted values")
        line = re.sub(r"\s+#.*$", "", line) if "'" not in line and '"' not in line else line
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"{path}:{number}: expected 'key: value' in the inventory, got {line[:40]!r}")
        key = _scalar(key.strip(), path, number)
        value = value.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not stack:
            raise UsageError(f"{path}:{number}: bad indentation")
        parent = stack[-1][1]
        if value == "" or value in ("~", "null"):
            child: dict = {}
            parent[key] = child
            stack.append((indent, child))
        else:
            if value[:1] in "&*!|>{[":
                raise UsageError(f"{path}:{number}: unsupported YAML value {value[:30]!r} (anchors, tags, flow "
                                 "collections and block scalars are not read)")
            parent[key] = _scalar(value, path, number)
    return root


def _scalar(text: str, path: str, number: int) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text[:1] in "'\"":
        raise UsageError(f"{path}:{number}: unterminated quote in {text[:30]!r}")
    return text
