"""The report path never imports Textual (nor rich): ``--report`` must not pay for the wizard.

Each case runs in a fresh interpreter, so nothing imported by other tests can hide
an import; it asserts on ``sys.modules`` after the real code path has run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = {
    "text report": "main(['--report', '127.0.0.1:{port}'])",
    "every format": "[main(['--report', '--format', f, '127.0.0.1:{port}']) for f in ('text', 'markdown', 'json', 'junit')]",
    "wait": "main(['--wait', '0.3', '127.0.0.1:{port}'])",
    "bare form without a terminal": "main(['127.0.0.1:{port}'])",
    "explain, checks, schema, version": "[main(a) for a in (['explain'], ['checks'], ['schema'], ['--version', '-v'])]",
}


@pytest.mark.parametrize("name", CASES)
def test_report_paths_do_not_import_textual(name, free_port):
    code = (
        "import sys\n"
        "from portdoctor.cli import main\n"
        f"{CASES[name].format(port=free_port)}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad\n"
    )
    env = {"PATH": "/usr/bin:/bin", "CI": "true", "NO_COLOR": "1"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-2000:]
