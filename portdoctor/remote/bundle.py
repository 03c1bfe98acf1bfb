"""What is sent to a remote host: portdoctor itself as a zip, and the few lines that run it.

Nothing is installed on the other machine. :func:`build_zip` packs the ``portdoctor``
package (with the built-in checks as ``portdoctor.checks`` and a manifest of them) into
an in-memory zip. :func:`remote_command` is the POSIX shell line given to ``ssh``: it
looks for ``python3`` (3.10 or newer) and runs :data:`BOOTSTRAP` with it, isolated
(``-I``: no user site, no ``PYTHON*`` variables, no current folder on the path); the
bootstrap reads the zip from stdin into memory, imports from it with a small finder
(nothing is written to the remote disk, so nothing is left behind), and runs
:mod:`portdoctor.remote.agent`. Without a usable ``python3`` the same line falls back to
standard commands (``ss``, ``nft``/``iptables-save``, ``ip``) whose output
:mod:`portdoctor.remote.reduced` reads. Each section of output starts with a marker
line that carries a random nonce, so a chatty login script cannot be taken for data.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import zipfile
from functools import lru_cache
from pathlib import Path

import portdoctor

MANIFEST = "portdoctor/remote/checks.json"
PYTHON_MIN = (3, 10)

# Runs on the remote python3 (kept to syntax every Python 3 parses, so an old one fails
# with the version message rather than a SyntaxError). argv: -c BOOT_LEN ZIP_LEN NONCE SPEC
BOOTSTRAP = r'''
import sys, io, zipfile, importlib.abc, importlib.util, importlib.machinery
zip_len, nonce, spec = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = b""
while len(data) < zip_len:
    chunk = sys.stdin.buffer.read(zip_len - len(data))
    if not chunk:
        break
    data += chunk
if len(data) != zip_len:
    sys.stdout.write("\n%s error short-read %d of %d bytes\n" % (nonce, len(data), zip_len))
    sys.exit(3)
archive = zipfile.ZipFile(io.BytesIO(data))
names = set(archive.namelist())

class MemoryFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "portdoctor" and not fullname.startswith("portdoctor."):
            return None
        base = fullname.replace(".", "/")
        if base + "/__init__.py" in names:
            spec = importlib.machinery.ModuleSpec(fullname, self, origin="memory:" + base + "/__init__.py",
                                                  is_package=True)
            spec.submodule_search_locations = []
            return spec
        if base + ".py" in names:
            return importlib.machinery.ModuleSpec(fullname, self, origin="memory:" + base + ".py")
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = module.__spec__.origin[len("memory:"):]
        module.__file__ = path
        code = compile(archive.read(path), path, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_data(self, path):
        return archive.read(path)

sys.meta_path.insert(0, MemoryFinder())
from portdoctor.remote import agent
sys.exit(agent.main(spec, nonce, archive))
'''


def _checks_manifest() -> list[list[str]]:
    """The built-in checks as ``[name, "module:Class"]``, from the installed entry points."""
    from portdoctor.plugins import entry_points

    return sorted([ep.name, ep.value] for ep in entry_points() if ep.value.startswith("portdoctor.checks."))


@lru_cache(maxsize=1)
def build_zip() -> bytes:
    """The ``portdoctor`` package (Python files only) and the checks manifest, zipped in memory."""
    package = Path(portdoctor.__file__).resolve().parent
    import portdoctor.checks as builtin_checks

    checks_dir = Path(builtin_checks.__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(package)
            if relative.parts[0] in ("tui", "checks") or "__pycache__" in relative.parts:
                continue  # the wizard never runs remotely; checks come from their own folder
            zf.writestr(_entry(f"portdoctor/{relative.as_posix()}"), path.read_bytes())
        for path in sorted(checks_dir.glob("*.py")):
            zf.writestr(_entry(f"portdoctor/checks/{path.name}"), path.read_bytes())
        zf.writestr(_entry(MANIFEST), json.dumps({"version": portdoctor.__version__,
                                                  "checks": _checks_manifest()}))
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def remote_command(nonce: str, spec: dict, zip_len: int, *, sudo: bool = False, port: int = 0) -> str:
    """The shell line ssh runs on the remote host (read by the user's login shell, POSIX sh assumed).

    python3 >= 3.10 there: run the bootstrap (under ``sudo -n`` with ``sudo``, when allowed).
    Otherwise: the reduced facts, each section behind a ``NONCE section NAME`` line.
    """
    boot = base64.b64encode(BOOTSTRAP.encode()).decode()
    spec_text = base64.b64encode(json.dumps(spec).encode()).decode()
    py_code = f"import base64;exec(base64.b64decode('{boot}'))"
    version_test = f"import sys; sys.exit(0 if sys.version_info >= {PYTHON_MIN!r} else 1)"
    python_argv = " ".join(shlex.quote(a) for a in ["-I", "-c", py_code, str(zip_len), nonce, spec_text])
    n = shlex.quote(nonce)
    sections = [
        ("hostname", "hostname 2>/dev/null || cat /proc/sys/kernel/hostname"),
        ("uname", "uname -sr"),
        ("id", "id -u"),
        ("client", 'echo "$SSH_CONNECTION"'),
        ("python", "command -v python3 >/dev/null 2>&1 && python3 -V 2>&1 || echo none"),
        ("ss", f"$S ss -Htanup 'sport = :{int(port)}' 2>&1"),
        ("ss-listen", "ss -Htlnu 2>&1"),
        ("addresses", "ip -o addr show 2>&1"),
        ("nft", "$S nft -j list ruleset 2>&1"),
        ("iptables", "$S iptables-save 2>&1"),
        ("ip6tables", "$S ip6tables-save 2>&1"),
    ]
    reduced = "; ".join(f"echo {n} section {name}; {cmd}" for name, cmd in sections)
    sudo_prefix = "sudo -n " if sudo else ""
    sudo_test = ("if sudo -n true >/dev/null 2>&1; then S='sudo -n'; "
                 f"else S=; echo {n} note no-sudo; fi; ") if sudo else "S=; "
    return (
        "PATH=$PATH:/usr/sbin:/sbin; export PATH; "
        f"if python3 -c {shlex.quote(version_test)} >/dev/null 2>&1; then "
        + (f"if sudo -n true >/dev/null 2>&1; then exec {sudo_prefix}python3 {python_argv}; "
           f"else echo {n} note no-sudo; exec python3 {python_argv}; fi; " if sudo else
           f"exec python3 {python_argv}; ")
        + f"fi; cat >/dev/null & echo {n} reduced; {sudo_test}{reduced}; echo {n} end"
    )
