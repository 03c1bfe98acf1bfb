"""Writing reports: atomic files (-o) and the user's reports folder (--save)."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from portdoctor.exitcodes import UsageError

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
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {path}: the file is not writable")


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder, then rename: never a partial file."""
    check_writable(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None


def save_report(text: str, fmt: str, label: str, folder: Path | None = None) -> Path:
    """Keep a report in the reports folder under a timestamped name; return its path."""
    folder = folder or reports_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the reports folder {folder}: {exc.strerror or exc}") from None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in label)[:60]
    path = folder / f"{stamp}-{safe}{FORMAT_EXTENSION[fmt]}"
    write_atomic(path, text)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
