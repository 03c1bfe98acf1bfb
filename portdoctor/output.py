"""Writing reports: atomic files (-o) and the user's reports folder (--save)."""

from __future__ import annotations

import errno
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from portdoctor.exitcodes import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

FORMAT_EXTENSION = {"text": ".txt", "markdown": ".md", "json": ".json", "junit": ".xml"}


def reports_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("portdoctor", appauthor=False) / "reports"


def check_writable(path: Path) -> None:
    """Fail early (exit 2) when the output path cannot be written."""
    try:
        _check_writable(path)
    except (ValueError, OSError) as exc:  # an embedded NUL, a name too long, ...
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _check_writable(path: Path) -> None:
    if "\x00" in str(path):
        raise UsageError(f"cannot write {str(path)!r}: a file name cannot contain a NUL character")
    if str(path) in STDOUT_PATHS:
        return
    if path.exists() and not path.is_file() and not path.is_dir():  # a device, FIFO or socket
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {path}: it is not writable")
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {path}: the file is not writable")


STDOUT_PATHS = ("-", "/dev/stdout", "/proc/self/fd/1", "/dev/fd/1")


def write_report(path: Path, text: str, stdout: TextIO | None = None) -> str:
    """Write ``text`` to ``path`` the way its kind of file needs; return where it went.

    - ``-`` and ``/dev/stdout`` are stdout;
    - a character device (``/dev/null``, a terminal) or a FIFO with a reader is written
      in place: replacing it with a regular file would keep, world-readable, what
      anyone writes there afterwards, and leave a FIFO's reader with nothing;
    - a block device, a socket, or a FIFO nobody reads is refused (exit 2);
    - a regular file or a new path gets the atomic temp-file-and-rename
      (:func:`write_atomic`).
    """
    import stat
    import sys

    if str(path) in STDOUT_PATHS:
        stream = stdout or sys.stdout
        stream.write(text)
        stream.flush()
        return "stdout"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if mode is None or stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        write_atomic(path, text)
        return str(path)
    if stat.S_ISBLK(mode):
        raise UsageError(f"refusing to write {path}: it is a block device (a disk)")
    if stat.S_ISSOCK(mode):
        raise UsageError(f"cannot write {path}: it is a socket, not a file")
    _write_in_place(path, text, fifo=stat.S_ISFIFO(mode))
    return str(path)


def _write_in_place(path: Path, text: str, *, fifo: bool) -> None:
    flags = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        # A FIFO: O_NONBLOCK makes a FIFO without a reader an error (ENXIO), not a hang.
        fd = os.open(path, flags | (os.O_NONBLOCK if fifo else 0))
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise UsageError(f"cannot write {path}: it is a FIFO and nothing reads it") from None
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if fifo:
            os.set_blocking(fd, True)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write via a temporary file in the same folder, then rename: never a partial file.

    In a sticky, world-writable folder (``/tmp``) an existing file owned by someone
    else is refused: replacing it with its mode copied would hand that user a file we
    wrote (and what it says) with the permissions they chose.
    """
    check_writable(path)
    parent = path.parent if str(path.parent) else Path(".")
    existing = _existing_regular(path)
    if existing is not None and hasattr(os, "geteuid") and existing.st_uid != os.geteuid():
        folder = os.stat(parent)
        if folder.st_mode & 0o1000 and folder.st_mode & 0o002:
            raise UsageError(f"refusing to replace {path}: it belongs to uid {existing.st_uid}, not to us, "
                             f"in the shared sticky folder {parent}; choose a path of your own")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif existing is not None:
            os.chmod(tmp, existing.st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _existing_regular(path: Path) -> os.stat_result | None:
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def save_report(text: str, fmt: str, label: str, folder: Path | None = None) -> Path:
    """Keep a report in the reports folder under a timestamped name; return its path.

    Reports hold command lines and addresses: the folder is private (0700, tightened if
    it exists and is ours) and each file 0600.
    """
    folder = folder or reports_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(folder)
        if st.st_mode & 0o077 and (not hasattr(os, "geteuid") or st.st_uid == os.geteuid()):
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise UsageError(f"cannot create the reports folder {folder}: {exc.strerror or exc}") from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in label)[:60]
    path = folder / f"{stamp}-{safe}{FORMAT_EXTENSION[fmt]}"
    write_atomic(path, text, mode=0o600)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
