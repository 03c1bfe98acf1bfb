"""Check discovery: entry points and drop-in folders, loaded the same way.

Built-in checks register under the entry-point group ``portdoctor.checks`` exactly
like third-party ones (see pyproject.toml). Drop-in folders (``--checks-dir DIR`` and
``<user config dir>/portdoctor/checks``) hold ``*.py`` files; every :class:`Check`
subclass with a ``name`` defined in such a file is loaded. A plugin that fails to
import, is not a check, or hangs on import becomes a :class:`PluginError`; the other
checks still load. A ``--checks-dir`` folder that is missing is a :class:`MissingFolder`
error the same way (one line on stderr, a note in the report).

Trust, as OpenSSH's StrictModes: when portdoctor runs as root (or under sudo, with
``SUDO_UID`` set), a drop-in folder (and each folder above it) and each file are loaded
only if owned by root or the real user and not writable by group or others. As in
OpenSSH, a sticky world-writable parent such as ``/tmp`` is refused too: keep plugins in a
folder whose every parent only root and the user can write.
Anything else is skipped with a :class:`PluginError` naming why. Files are opened with
``O_NOFOLLOW``, checked with ``fstat`` on the open descriptor, and the bytes read from
that descriptor are the ones executed. Entry points are never read from the current
working directory (``python -m portdoctor`` puts it on ``sys.path``).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

from portdoctor.api import Check
from portdoctor.bounded import Overrun, call_untrusted
from portdoctor.records import dataclass

TYPE_CHECKING = False  # pathlib only where a folder is given or exists
if TYPE_CHECKING:
    import types
    from pathlib import Path

GROUP = "portdoctor.checks"
IMPORT_TIMEOUT = 5.0  # seconds to import one plugin (in process; isolation.IMPORT_SECONDS in a child)


@dataclass
class LoadedCheck:
    """A check instance, and where it was loaded from."""

    check: Check
    origin: str  # "built-in", "entry point <dist> <version>", or "file <path>"
    source: str  # "portdoctor.checks.firewall:FirewallCheck" or a file path
    isolated: bool = False  # a third-party check run in a child process (portdoctor.isolation)

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"


@dataclass
class PluginError:
    """A check that could not be loaded, and why (one line on stderr, a note in the report)."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.source}: {self.message}"


@dataclass
class MissingFolder(PluginError):
    """A ``--checks-dir`` folder that does not exist or is not a folder: reported, not fatal."""

    def __str__(self) -> str:
        return f"checks folder {self.source} {self.message}"


@dataclass(frozen=True)
class EntryPoint:
    """One ``name = module:attr`` line of a distribution's entry_points.txt."""

    name: str
    value: str
    dist: str
    version: str

    def load(self) -> object:
        module_name, _, attrs = self.value.partition(":")
        module_name = module_name.strip()
        __import__(module_name)  # importlib.import_module without importing importlib
        obj = sys.modules[module_name]
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points(group: str = GROUP) -> list[EntryPoint]:
    """The entry points of ``group`` of every installed distribution on sys.path.

    What ``importlib.metadata.entry_points(group=...)`` returns, read directly from the
    ``*.dist-info`` / ``*.egg-info`` folders: importing importlib.metadata costs about
    20 ms here (email, zipfile, csv), a sixth of a whole ``--report`` run; this scan
    costs about 2 ms (and no configparser). Like importlib.metadata, the first distribution of a given name
    on sys.path wins. Zipped eggs on sys.path are not scanned.
    """
    found: list[EntryPoint] = []
    seen: set[str] = set()
    cwd = _cwd()
    for entry in sys.path:
        if not entry or os.path.realpath(entry) == cwd:
            continue  # an untrusted working directory must not add checks
        folder = entry
        try:
            names = sorted(os.listdir(folder))
        except OSError:  # not a folder (a zip), or unreadable
            continue
        for meta in names:
            if not meta.endswith((".dist-info", ".egg-info")):
                continue
            dist, _, version = meta.rsplit(".", 1)[0].partition("-")
            key = dist.lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            try:
                with open(os.path.join(folder, meta, "entry_points.txt"), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if f"[{group}]" not in text:
                continue
            dist, version = _name_and_version(os.path.join(folder, meta), dist, version)
            found.extend(EntryPoint(name, value, dist, version) for name, value in _section(text, group))
    return found


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of ``[group]`` in an entry_points.txt, read the way
    importlib.metadata reads them (its ``Sectioned``: stripped lines, ``#`` comments)."""
    pairs: list[tuple[str, str]] = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group:
            name, sep, value = line.partition("=")
            if sep:
                pairs.append((name.strip(), value.strip()))
    return pairs


def _name_and_version(meta_dir: str, dist: str, version: str) -> tuple[str, str]:
    """The distribution's own spelling of its name and version, from its metadata headers."""
    for filename in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, filename), encoding="utf-8") as fh:
                headers = {}
                for line in fh:
                    if not line.strip():
                        break
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version"):
                        headers[key] = value.strip()
            return headers.get("Name", dist), headers.get("Version", version)
        except OSError:
            continue
    return dist, version


def user_checks_dir() -> Path:
    """``<user config dir>/portdoctor/checks``, as platformdirs names it on every OS.

    On Linux that is the XDG rule (``$XDG_CONFIG_HOME``, else ``~/.config``), computed
    here: importing platformdirs costs more than the rest of plugin discovery.
    """
    from pathlib import Path

    return Path(_user_checks_folder())


def _user_checks_folder() -> str:
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_CONFIG_HOME", "").strip()
        if not os.path.isabs(base):  # unset, empty or relative: the XDG spec says ignore it
            base = os.path.expanduser("~/.config")
        return os.path.join(base, "portdoctor", "checks")
    import platformdirs

    return str(platformdirs.user_config_path("portdoctor", appauthor=False) / "checks")


def discover(check_dirs: list[Path] | None = None, *, include_user_dir: bool = True) -> tuple[list[LoadedCheck], list[PluginError]]:
    """Every check that would run, in pipeline order, and what failed to load."""
    loaded: list[LoadedCheck] = []
    errors: list[PluginError] = []
    # Third-party sources (entry points of other distributions, drop-in files), loaded
    # below in child processes (or bounded threads, see portdoctor.isolation), in order.
    third_party: list[tuple[str, str, Callable[[], list[Check]]]] = []  # (source, origin, loader)
    # Built-ins first, so that a plugin reusing a built-in check's name is the one ignored.
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (not e.value.startswith("portdoctor.checks."), e.name)):
        if not ep.value.startswith("portdoctor.checks."):
            third_party.append((ep.value, f"entry point {ep.dist} {ep.version}".rstrip(),
                                functools.partial(_checks_of_entry_point, ep)))
            continue
        try:
            # A built-in is imported in place (a thread per import costs more than the import).
            loaded.append(LoadedCheck(_instantiate(ep.load()), "built-in", ep.value))
        except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
            errors.append(PluginError(ep.value, _one_line(exc)))

    third_party += _drop_in_files(check_dirs, include_user_dir, errors)
    loaded += _load_third_party(third_party, errors)

    unique: list[LoadedCheck] = []
    seen: dict[str, LoadedCheck] = {}
    for item in loaded:
        if item.check.name in seen:
            errors.append(PluginError(item.source, f"check name {item.check.name!r} is already taken by {seen[item.check.name].source}; ignored"))
            continue
        seen[item.check.name] = item
        unique.append(item)
    ordered, cycle = pipeline_order(unique)
    if cycle:
        errors.append(PluginError(
            ", ".join(cycle), "the checks' after/before declarations form a cycle ("
            + " -> ".join([*cycle, cycle[0]]) + "); they run by their order numbers instead"))
    return ordered, errors


def _drop_in_files(check_dirs: list[Path] | None, include_user_dir: bool,
                   errors: list[PluginError]) -> list[tuple[str, str, Callable[[], list[Check]]]]:
    """The ``*.py`` files of the drop-in folders, read once trusted: (source, origin, loader) each."""
    found: list[tuple[str, str, Callable[[], list[Check]]]] = []
    # A folder given with --checks-dir must be there (a typo would silently drop the
    # user's checks); the user's config folder is usually absent, which is normal.
    if check_dirs:
        from pathlib import Path
    dirs = [(Path(folder), True) for folder in check_dirs or []]
    if include_user_dir and os.path.lexists(_user_checks_folder()):  # usually absent: no pathlib then
        dirs.append((user_checks_dir(), False))
    for folder, explicit in dirs:
        try:
            if not folder.is_dir():
                if explicit:
                    errors.append(MissingFolder(str(folder), "is not a folder" if folder.exists()
                                                else "does not exist"))
                continue
        except OSError as exc:  # e.g. sudo -u nobody with HOME=/root: not ours to read
            if explicit:
                errors.append(MissingFolder(str(folder), f"cannot be read: {exc.strerror or exc}"))
            continue
        owners = trusted_owners()
        if owners is not None:
            problem = _untrusted_folder(folder, owners)
            if problem:
                errors.append(PluginError(str(folder), f"skipped: {problem}"))
                continue
        try:
            paths = sorted(folder.glob("*.py"))
        except OSError as exc:
            errors.append(PluginError(str(folder), f"cannot be read: {exc.strerror or exc}"))
            continue
        for path in paths:
            if path.name.startswith("_"):
                continue
            try:
                source = read_trusted(path, owners)
            except PermissionError as exc:
                errors.append(PluginError(str(path), f"skipped: {exc}"))
                continue
            except OSError as exc:
                errors.append(PluginError(str(path), f"cannot be read: {exc.strerror or exc}"))
                continue
            found.append((str(path), "file", functools.partial(_checks_in_file, path, source)))
    return found


def pipeline_order(checks: list[LoadedCheck]) -> tuple[list[LoadedCheck], list[str]]:
    """The checks in pipeline order, and the names in a cycle of declarations (else ``[]``).

    A deterministic topological sort: every check runs after the checks its ``after``
    names and before those its ``before`` names (names that are not loaded are ignored);
    among checks free to run, the lowest ``(order, name)`` goes first, so ``order`` only
    says where a check sits among checks it does not depend on. Checks caught in a cycle
    are placed by ``(order, name)`` after the others, and the cycle is returned.
    """
    import heapq

    by_name = {c.check.name: c for c in checks}
    runs_after: dict[str, set[str]] = {name: set() for name in by_name}
    for c in checks:
        for earlier in getattr(c.check, "after", ()) or ():
            if earlier in by_name and earlier != c.check.name:
                runs_after[c.check.name].add(earlier)
        for later in getattr(c.check, "before", ()) or ():
            if later in by_name and later != c.check.name:
                runs_after[later].add(c.check.name)
    waiting = {name: len(deps) for name, deps in runs_after.items()}
    unblocks: dict[str, list[str]] = {name: [] for name in by_name}
    for name, deps in runs_after.items():
        for dep in deps:
            unblocks[dep].append(name)

    def key(name: str) -> tuple[int, str]:
        order = by_name[name].check.order
        return (order if isinstance(order, int) else 500, name)

    ready = [key(name) for name, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    ordered: list[LoadedCheck] = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for later in unblocks[name]:
            waiting[later] -= 1
            if waiting[later] == 0:
                heapq.heappush(ready, key(later))
    if len(ordered) == len(checks):
        return ordered, []
    stuck = sorted((n for n, left in waiting.items() if left > 0), key=key)
    ordered += [by_name[n] for n in stuck]
    return ordered, _a_cycle(stuck, runs_after)


def _a_cycle(stuck: list[str], runs_after: dict[str, set[str]]) -> list[str]:
    """One cycle among the checks the sort could not place, to name in the error."""
    path: list[str] = []
    name = stuck[0]
    while name not in path:
        path.append(name)
        name = sorted(d for d in runs_after[name] if d in stuck)[0]
    return path[path.index(name):][::-1]


def _load_third_party(sources: list[tuple[str, str, Callable[[], list[Check]]]],
                      errors: list[PluginError]) -> list[LoadedCheck]:
    """The checks of third-party sources: described by child processes that import them
    (:mod:`portdoctor.isolation`), or, where that is not available, imported here within
    IMPORT_TIMEOUT each."""
    loaded: list[LoadedCheck] = []
    if not sources:
        return loaded
    from portdoctor import isolation

    if isolation.available():
        described = isolation.describe([(source, loader) for source, _origin, loader in sources])
        for (source, origin, loader), result in zip(sources, described):
            if isinstance(result, str):
                errors.append(PluginError(source, result))
                continue
            loaded += [LoadedCheck(isolation.IsolatedCheck(d, loader, source), origin, source, isolated=True)
                       for d in result]
        return loaded
    for source, origin, loader in sources:
        try:
            checks = call_untrusted(loader, IMPORT_TIMEOUT, name=f"import {source}")
            loaded += [LoadedCheck(check, origin, source) for check in checks]
        except Overrun as exc:
            errors.append(PluginError(source, str(exc)))
        except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, not raised
            errors.append(PluginError(source, _one_line(exc)))
    return loaded


def _checks_of_entry_point(ep: EntryPoint) -> list[Check]:
    return [_instantiate(ep.load())]


def _checks_in_file(path: Path, source: bytes) -> list[Check]:
    """An instance of every named Check subclass that the file ``path`` (as ``source``) defines."""
    module = _import_file(path, source)
    found = [
        obj for obj in vars(module).values() if isinstance(obj, type)
        if issubclass(obj, Check) and obj is not Check and obj.name and obj.__module__ == module.__name__
    ]
    if not found:
        raise LookupError("defines no Check subclass with a name")
    return [cls() for cls in found]


def _instantiate(obj: object) -> Check:
    if isinstance(obj, type) and issubclass(obj, Check):
        obj = obj()
    if not isinstance(obj, Check):
        raise TypeError(f"is {type(obj).__name__}, not a portdoctor.api.Check subclass")
    if not obj.name:
        raise TypeError(f"{type(obj).__name__} has no name")
    return obj


def _import_file(path: Path, source: bytes) -> types.ModuleType:
    """Execute ``source`` (the bytes read and checked from ``path``) as a module."""
    import types

    module_name = f"portdoctor_dropin_{path.stem}"
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # a plugin is code, by design
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


MAX_PLUGIN_BYTES = 1024 * 1024


def trusted_owners() -> set[int] | None:
    """The uids a plugin may belong to when trust is enforced (root, or sudo); else None."""
    if not hasattr(os, "geteuid"):
        return None
    sudo_uid = os.environ.get("SUDO_UID", "")
    if os.geteuid() != 0 and not sudo_uid:
        return None
    owners = {0, os.getuid()}
    if sudo_uid.isdigit():
        owners.add(int(sudo_uid))
    return owners


def _untrusted_folder(folder: Path, owners: set[int]) -> str | None:
    """Why ``folder`` (or a folder above it) may not hold plugins, or None."""
    import stat

    try:
        from pathlib import Path

        path = Path(os.path.realpath(folder))
        st = os.stat(path)
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    if st.st_uid not in owners:
        return f"owned by uid {st.st_uid}, not by root or the user running portdoctor"
    if st.st_mode & 0o022:
        return f"writable by {'others' if st.st_mode & 0o002 else 'its group'} (mode {stat.S_IMODE(st.st_mode):o})"
    for parent in path.parents:
        try:
            pst = os.stat(parent)
        except OSError as exc:
            return f"{parent} cannot be checked: {exc.strerror or exc}"
        if pst.st_uid not in owners:
            return f"{parent} is owned by uid {pst.st_uid}"
        if pst.st_mode & 0o022:  # a sticky /tmp included, as OpenSSH's StrictModes
            return f"{parent} is writable by group or others (mode {stat.S_IMODE(pst.st_mode):o})"
    return None


def read_trusted(path: Path, owners: set[int] | None) -> bytes:
    """The bytes of a plugin file, opened without following a symlink and checked on the
    open descriptor. Raises PermissionError (with why) for a file trust rules refuse."""
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError("not a regular file")
        if owners is not None:
            if st.st_uid not in owners:
                raise PermissionError(f"owned by uid {st.st_uid}, not by root or the user running portdoctor")
            if st.st_mode & 0o022:
                raise PermissionError(f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o})")
        if st.st_size > MAX_PLUGIN_BYTES:
            raise PermissionError(f"larger than {MAX_PLUGIN_BYTES} bytes")
        chunks = []
        total = 0
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_PLUGIN_BYTES:
                raise PermissionError(f"larger than {MAX_PLUGIN_BYTES} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _cwd() -> str | None:
    try:
        return os.path.realpath(os.getcwd())
    except OSError:
        return None


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0] if text else type(exc).__name__
