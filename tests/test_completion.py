"""Shell completion and the man page: generated from the parser, complete, valid, shipped current.

The shipped copies under share/ must equal what the generators print now; after changing
an option, rewrite them with ``PORTDOCTOR_UPDATE_SHARE=1 .venv/bin/python -m pytest
tests/test_completion.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from portdoctor.argv import build_parser, subcommand_parsers
from portdoctor.causes import CAUSES
from portdoctor.cli import main
from portdoctor.completion import SHELLS, script
from portdoctor.manpage import manpage

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = {
    "share/man/man1/portdoctor.1": manpage,
    "share/bash-completion/completions/portdoctor": lambda: script("bash"),
    "share/zsh/site-functions/_portdoctor": lambda: script("zsh"),
    "share/fish/vendor_completions.d/portdoctor.fish": lambda: script("fish"),
}


def every_option() -> set[str]:
    parsers = [build_parser(), *subcommand_parsers().values()]
    return {flag for p in parsers for a in p._actions for flag in a.option_strings}


@pytest.mark.parametrize("shell", SHELLS)
def test_every_option_subcommand_and_cause_is_completed(shell):
    text = script(shell)
    for flag in every_option():
        if shell == "fish":  # complete -l report, complete -s o
            flag = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
        assert flag in text, flag
    for name in subcommand_parsers():
        assert name in text
    for cause in CAUSES:
        assert cause in text, cause


@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_shipped_files_are_what_the_parser_generates(path):
    generated = SHIPPED[path]()
    target = ROOT / path
    if os.environ.get("PORTDOCTOR_UPDATE_SHARE") == "1":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(generated, encoding="utf-8")
    assert target.read_text(encoding="utf-8") == generated, (
        f"{path} is out of date with the parser: rewrite it with "
        "PORTDOCTOR_UPDATE_SHARE=1 .venv/bin/python -m pytest tests/test_completion.py")


def test_completion_subcommand_prints_the_script(capsys):
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == script("bash")
    assert main(["completion", "tcsh"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def _shell(argv: list[str], text: str) -> str:
    return subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30, check=True).stdout


def bash_complete(script_text: str, line: str) -> list[str]:
    """Run the completion function the way bash does for ``line`` (the cursor at its end)."""
    words = line.split(" ")
    program = script_text + (
        f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; COMP_WORDS=({" ".join(repr(w) for w in words)}); '
        f"COMP_CWORD={len(words) - 1}; _portdoctor; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    return _shell(["bash", "--norc", "--noprofile"], program).split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_sources_the_script_and_completes():
    text = script("bash")
    subprocess.run(["bash", "-n"], input=text, text=True, check=True, timeout=30)
    assert set(bash_complete(text, "portdoctor explain ")) == set(CAUSES)
    assert bash_complete(text, "portdoctor --report --form") == ["--format"]
    assert bash_complete(text, "portdoctor --format j") == ["json", "junit"]
    assert bash_complete(text, "portdoctor completion ") == list(SHELLS)
    assert "postgres://" in bash_complete(text, "portdoctor post")
    assert "--checks-dir" in bash_complete(text, "portdoctor checks --")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh (apt-get install zsh)")
def test_zsh_parses_the_script():
    subprocess.run(["zsh", "-n"], input=script("zsh"), text=True, check=True, timeout=30)


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish (apt-get install fish)")
def test_fish_loads_the_script_and_completes():
    text = script("fish")
    subprocess.run(["fish", "--no-execute"], input=text, text=True, check=True, timeout=30)

    def complete(line: str) -> list[str]:
        out = subprocess.run(["fish", "--no-config", "-c", f"source; complete -C {line!r}"], input=text,
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return [row.split("\t")[0] for row in out.splitlines()]

    assert set(complete("portdoctor explain ")) == set(CAUSES)
    assert complete("portdoctor --format j") == ["json", "junit"]


def test_man_page_names_every_option_and_cause():
    page = manpage()
    for flag in every_option():
        assert f"\\fB{flag.replace('-', chr(92) + '-')}\\fR" in page, flag
    for cause in CAUSES:
        assert cause.replace("-", "\\-") in page
    assert page.startswith('.\\" Generated') and ".SH EXIT STATUS" in page


@pytest.mark.skipif(shutil.which("man") is None or shutil.which("groff") is None, reason="needs man and groff")
def test_man_renders_the_page_without_warnings(tmp_path):
    path = tmp_path / "portdoctor.1"
    path.write_text(manpage(), encoding="utf-8")
    result = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, MANWIDTH="80"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    shown = re.sub(".\x08", "", result.stdout).replace("\u2010", "-")  # overstrike bold, typographic hyphens
    assert "portdoctor explain" in shown and "--targets-file" in shown
