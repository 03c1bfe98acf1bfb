"""The import budget of the ``--report`` path, guarded by a test rather than by comments.

A refused port, diagnosed in a fresh interpreter that then lists ``sys.modules`` (every
module any thread imported; ``-X importtime`` misses the checks, imported while a
check's output is captured): none of the heavy modules below may be imported, and the
number of portdoctor's own modules stays under a cap. Not a timed test: the figures are
benchmarks/bench_sockets.py's. A new module on this path: import it where it is used
(inside the function that needs it) or, if every run needs it, raise the cap here and
say why in the commit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# What --report never needs on Linux, with what each would cost or drag in.
HEAVY = {
    "textual": "the wizard",
    "rich": "the wizard",
    "psutil": "process tables: /proc is read directly on Linux",
    "platformdirs": "the user's checks folder is the XDG rule on Linux",
    "importlib.metadata": "entry points are read directly (email, zipfile, csv)",
    "email": "importlib.metadata",
    "zipfile": "importlib.metadata",
    "concurrent.futures": "logging; bounded.parallel_map does the same",
    "asyncio": "the wizard",
    "logging": "nothing logs",
    "platform": "os.uname() says the same",
    "tempfile": "random and shutil",
    "http.client": "nothing speaks HTTP on this path",
    "ssl": "nothing speaks TLS on this path",
    "portdoctor.tui": "the wizard",
    "portdoctor.completion": "the completion subcommand",
    "portdoctor.manpage": "the man page generator",
    "portdoctor.explain": "the explain pages",
    "portdoctor.message": "the error-message reader: only for a TARGET that is not a target as typed",
    "portdoctor.events": "the pipeline's events: only for an on_event listener (the wizard)",
    "configparser": "entry_points.txt is read line by line, as importlib.metadata reads it",
    "datetime": "the report's timestamp is time.strftime",
    "dataclasses": "portdoctor.records: each @dataclass compiled its methods from source",
    "inspect": "dataclasses (with ast, dis and tokenize)",
    "typing": "annotations only, under TYPE_CHECKING (about 4 ms)",
    "argparse": "portdoctor.argv.read_simple reads the common forms (argparse brings shutil, gettext, locale)",
    "shutil": "argparse's help formatter; bounded.system_tool looks tools up itself",
    "subprocess": "bounded.run_commands starts tools with os.posix_spawn",
    "locale": "subprocess and argparse; tool output is decoded as UTF-8",
    "pathlib": "imported only where a file or folder is named (-o, --checks-dir, a drop-in folder)",
    "urllib.parse": "imported only where a proxy variable is set or a URL is the target",
    "textwrap": "the text report wraps its prose itself (render.text.wrap_words)",
    "shlex": "commands.shell_quote; shlex.split only where there are iptables rules to read",
    "importlib": "plugins and the API's lazy names import with __import__",
    "warnings": "only for a check still passing evidence as keyword arguments",
    "ctypes": "setns on Python 3.11 comes from _ctypes (facts.namespaces._setns)",
}
# 66 when last tightened: the 20 built-in checks, the fact and rule modules a refused
# port reads, the core (cli, argv, target, model, records, pipeline, api, plugins, ...).
MAX_PORTDOCTOR_MODULES = 68

LIST_MODULES = """
import sys
before = set(sys.modules)  # the interpreter's own start (an editable install's finder imports pathlib)
from portdoctor.cli import main
code = main(sys.argv[1:])
print("--- modules ---", *sorted(set(sys.modules) - before), sep="\\n")
sys.exit(code)
"""


def report_path_modules(port: int) -> list[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CI": "true", "NO_COLOR": "1",
           "HOME": os.environ.get("HOME", "/root")}
    p = subprocess.run([sys.executable, "-c", LIST_MODULES, "--report", f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr[-2000:]  # refused: a problem diagnosed
    names = p.stdout.rsplit("--- modules ---", 1)[-1].split()  # what follows the report
    assert "portdoctor.pipeline" in names, p.stdout[-2000:]
    return names


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the budget is Linux's report path")
def test_report_path_imports_no_heavy_module_and_few_of_ours(free_port):
    names = report_path_modules(free_port)
    heavy = sorted(n for n in names if n in HEAVY or any(n.startswith(h + ".") for h in HEAVY))
    assert not heavy, {n: HEAVY.get(n, HEAVY.get(n.split(".")[0], "")) for n in heavy}
    ours = sorted(n for n in names if n == "portdoctor" or n.startswith("portdoctor."))
    assert len(ours) <= MAX_PORTDOCTOR_MODULES, (
        f"{len(ours)} portdoctor modules on the --report path (cap {MAX_PORTDOCTOR_MODULES}): {ours}")
