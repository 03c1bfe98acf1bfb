"""Shell completion for bash, zsh and fish, generated from the command line's own parsers.

:func:`script` returns the completion script for one shell (``portdoctor completion
bash|zsh|fish`` prints it; the same scripts are shipped under ``share/``). Everything in
it is read from :func:`portdoctor.argv.build_parser` and
:func:`portdoctor.argv.subcommand_parsers`, so a new option completes without an edit
here: options (with their choices; files after FILE options, folders after DIR ones),
the subcommands, the cause names after ``explain``, and the start of a TARGET (URL
schemes with a default port, ``localhost:``, ``127.0.0.1:``, ``[::1]:``, ``container:``).
"""

from __future__ import annotations

import argparse

from portdoctor.records import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

SHELLS = ("bash", "zsh", "fish")
HEADER = "portdoctor {shell} completion, generated from portdoctor's argument parser: do not edit"


@dataclass
class Option:
    """One option of a parser, as a completion script needs it."""

    flags: list[str]  # "-o", "--output"
    help: str
    takes_value: bool
    choices: list[str]  # fixed values, or empty
    value: str  # "file", "dir", "choice", "other" or "" (a flag)
    repeatable: bool


@dataclass
class Command:
    """A parser (the main one or a subcommand): its options and what its positionals complete to."""

    name: str  # "" for the main command
    description: str
    options: list[Option]
    words: list[tuple[str, str]]  # positional candidates with a description


def _options(parser: argparse.ArgumentParser) -> list[Option]:
    out = []
    for action in parser._actions:  # the option table argparse itself uses
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        takes_value = action.nargs != 0
        choices = [str(c) for c in action.choices] if action.choices else []
        metavar = str(action.metavar or "")
        value = ("" if not takes_value else "choice" if choices else "dir" if metavar == "DIR"
                 else "file" if metavar == "FILE" else "other")
        text = parser._get_formatter()._expand_help(action) if action.help else ""  # %(default)s and co.
        out.append(Option(list(action.option_strings), " ".join(text.split()), takes_value, choices, value,
                          isinstance(action, argparse._AppendAction)))
    return out


def target_prefixes() -> list[tuple[str, str]]:
    """The start of a TARGET: hosts to add a port to, and every scheme with a known default port."""
    from portdoctor.target import DEFAULT_PORTS

    words = [("localhost:", "a port on this machine"), ("127.0.0.1:", "a port on IPv4 loopback"),
             ("[::1]:", "a port on IPv6 loopback"), ("container:", "a container or compose service"),
             ("tcp://", "a TCP port"), ("udp://", "a UDP port")]
    words += [(f"{scheme}://", f"default port {port}") for scheme, port in DEFAULT_PORTS.items()]
    return words


def commands() -> list[Command]:
    """The main command, then each subcommand, as read from the parsers."""
    from portdoctor.argv import build_parser, subcommand_parsers
    from portdoctor.causes import CAUSES

    subs = subcommand_parsers()
    main = build_parser()
    out = [Command("", main.description or "", _options(main),
                   [(name, p.description or "") for name, p in subs.items()] + target_prefixes())]
    for name, parser in subs.items():
        words: list[tuple[str, str]] = []
        for action in parser._actions:
            if action.option_strings:
                continue
            if action.dest == "cause":
                words += [(c.name, c.summary) for c in CAUSES.values()]
            elif action.choices:
                words += [(str(c), "") for c in action.choices]
        out.append(Command(name, parser.description or "", _options(parser), words))
    return out


def script(shell: str) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`)."""
    return {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[shell](commands())


def _value_completion(option: Option, table: dict[str, str], quote: Callable[[str], str] = lambda text: text) -> str:
    """What completes ``option``'s value in one shell: ``table`` maps the value kind (choice,
    file, dir, other) to the shell's words; ``{choices}`` in them is the choices, quoted."""
    return table.get(option.value, "").format(choices=quote(" ".join(option.choices)))


# --- bash ---------------------------------------------------------------------------


def _sh_words(words: Iterable[str]) -> str:
    return " ".join(words)


_BASH_VALUE = {"choice": 'COMPREPLY=($(compgen -W "{choices}" -- "$cur"))',
               "file": 'COMPREPLY=($(compgen -f -- "$cur"))',
               "dir": 'COMPREPLY=($(compgen -d -- "$cur"))',
               "other": "COMPREPLY=()"}


def bash_script(cmds: list[Command]) -> str:
    main, subs = cmds[0], cmds[1:]
    sub_names = "|".join(c.name for c in subs)
    lines = [
        f"# {HEADER.format(shell='bash')}.",
        "# Install: copy to /usr/share/bash-completion/completions/portdoctor,",
        "# or add 'source <(portdoctor completion bash)' to ~/.bashrc.",
        "",
        "_portdoctor() {",
        "    local line=\"${COMP_LINE:0:COMP_POINT}\"",
        "    local cur=\"${line##*[[:space:]]}\"  # the word as typed, colons included",
        "    local prev=\"\" sub=\"\" i",
        "    (( COMP_CWORD > 0 )) && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"",
        "    [[ \"$prev\" == \":\" && COMP_CWORD -gt 1 ]] && prev=\"${COMP_WORDS[COMP_CWORD-2]}\"",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        f"        case \"${{COMP_WORDS[i]}}\" in {sub_names}) sub=\"${{COMP_WORDS[i]}}\"; break ;; esac",
        "    done",
        "    local options words",
        "    case \"$sub\" in",
    ]
    for cmd in [*subs, main]:  # the main command's arm last: "*" matches anything
        flags = [f for o in cmd.options for f in o.flags]
        lines.append(f"        {cmd.name or '*'})")
        lines.append(f"            options=\"{_sh_words(flags)}\"")
        lines.append(f"            words=\"{_sh_words(w for w, _ in cmd.words)}\"")
        lines.append("            case \"$prev\" in")
        for o in cmd.options:
            if not o.takes_value:
                continue
            lines.append(f"                {'|'.join(o.flags)}) {_value_completion(o, _BASH_VALUE)}; return ;;")
        lines.append("            esac")
        lines.append("            ;;")
    lines += [
        "    esac",
        "    if [[ \"$cur\" == -* ]]; then",
        "        COMPREPLY=($(compgen -W \"$options\" -- \"$cur\"))",
        "    else",
        "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))",
        "        # A TARGET prefix (localhost:, http://) is completed further by hand: no space after it.",
        "        if [[ ${#COMPREPLY[@]} -gt 0 && \"${COMPREPLY[*]}\" == *[:/] ]]; then",
        "            compopt -o nospace 2>/dev/null",
        "        fi",
        "    fi",
        "    # bash splits words at ':'; drop what it already has before the last colon.",
        "    if [[ \"$cur\" == *:* && \"$COMP_WORDBREAKS\" == *:* ]]; then",
        "        local colon=\"${cur%\"${cur##*:}\"}\"",
        "        for i in \"${!COMPREPLY[@]}\"; do COMPREPLY[i]=\"${COMPREPLY[i]#\"$colon\"}\"; done",
        "    fi",
        "}",
        "complete -F _portdoctor portdoctor",
        "",
    ]
    return "\n".join(lines)


# --- zsh ----------------------------------------------------------------------------


def _sq(text: str) -> str:
    """Inside zsh single quotes."""
    return text.replace("'", "'\\''")


def _zq(text: str) -> str:
    """An _arguments option description: brackets and colons escaped, inside single quotes."""
    return _sq(text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace(":", "\\:"))


def _zword(text: str) -> str:
    """A value or description inside _arguments' ((value\\:description ...)) list."""
    for special in ("\\", ":", " ", "(", ")", "'", '"', "`", "$"):
        text = text.replace(special, "\\" + special)
    return _sq(text)


_ZSH_VALUE = {"choice": ":value:({choices})", "file": ":file:_files", "dir": ":folder:_files -/", "other": ":value: "}


def _zsh_specs(cmd: Command) -> list[str]:
    specs = []
    for o in cmd.options:
        action = _value_completion(o, _ZSH_VALUE)
        for flag in o.flags:
            specs.append(f"'{'*' if o.repeatable else ''}{flag}[{_zq(o.help)}]{action}'")
    return specs


def zsh_script(cmds: list[Command]) -> str:
    main, subs = cmds[0], cmds[1:]
    lines = [
        "#compdef portdoctor",
        f"# {HEADER.format(shell='zsh')}.",
        "# Install: copy as _portdoctor into a folder on $fpath (e.g. /usr/share/zsh/site-functions),",
        "# or add 'source <(portdoctor completion zsh)' to ~/.zshrc after compinit.",
        "",
        "_portdoctor_words() {",
        "  local -a subcommands targets",
        "  subcommands=(",
    ]
    lines += [f"    '{_sq(c.name)}:{_sq(c.description)}'" for c in subs]
    lines += ["  )", "  targets=("]
    lines += [f"    '{_sq(w)}'" for w, _ in main.words if w not in {c.name for c in subs}]
    lines += [
        "  )",
        "  _describe -t subcommands 'subcommand' subcommands",
        "  compadd -S '' -- $targets",
        "}",
        "",
        "_portdoctor() {",
        "  local i sub",
        "  for (( i = 2; i < CURRENT; i++ )); do",
        f"    case ${{words[i]}} in ({'|'.join(c.name for c in subs)}) sub=${{words[i]}}; break;; esac",
        "  done",
        "  if [[ -n $sub ]]; then",
        "    # Complete the subcommand as if it were the command.",
        "    words=(\"${(@)words[i,-1]}\")",
        "    (( CURRENT -= i - 1 ))",
        "  fi",
        "  case $sub in",
    ]
    for c in subs:
        positional = ""
        if c.words:
            described = " ".join(f"{_zword(w)}\\:{_zword(d)}" if d else _zword(w) for w, d in c.words)
            positional = f" '1:{c.name} argument:(({described}))'"
        lines.append(f"    ({c.name}) _arguments -s {' '.join(_zsh_specs(c))}{positional} ;;")
    lines += [
        f"    (*) _arguments -s {' '.join(_zsh_specs(main))} '*::target:_portdoctor_words' ;;",
        "  esac",
        "}",
        "",
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then",
        "  _portdoctor \"$@\"",
        "else",
        "  compdef _portdoctor portdoctor",
        "fi",
        "",
    ]
    return "\n".join(lines)


# --- fish ---------------------------------------------------------------------------


def _fq(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_FISH_VALUE = {"choice": "-x -a {choices}", "file": "-r -F", "dir": "-x -a '(__fish_complete_directories)'",
               "other": "-x"}


def fish_script(cmds: list[Command]) -> str:
    main, subs = cmds[0], cmds[1:]
    names = " ".join(c.name for c in subs)
    top = f"not __fish_seen_subcommand_from {names}"
    lines = [
        f"# {HEADER.format(shell='fish')}.",
        "# Install: copy to ~/.config/fish/completions/portdoctor.fish,",
        "# or run 'portdoctor completion fish | source'.",
        "",
        "complete -c portdoctor -f",
    ]

    def option_lines(cmd: Command, condition: str) -> None:
        for o in cmd.options:
            parts = [f"complete -c portdoctor -n {_fq(condition)}"]
            for flag in o.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if o.value:
                parts.append(_value_completion(o, _FISH_VALUE, _fq))
            parts.append(f"-d {_fq(o.help)}")
            lines.append(" ".join(parts))

    option_lines(main, top)
    for w, d in main.words:
        lines.append(f"complete -c portdoctor -n {_fq(top)} -a {_fq(w)} -d {_fq(d)}")
    for c in subs:
        condition = f"__fish_seen_subcommand_from {c.name}"
        option_lines(c, condition)
        for w, d in c.words:
            lines.append(f"complete -c portdoctor -n {_fq(condition)} -a {_fq(w)}" + (f" -d {_fq(d)}" if d else ""))
    lines.append("")
    return "\n".join(lines)
