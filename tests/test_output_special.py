"""``-o`` on special files and shared folders (issue 9, item 1), with real files:
a character device, a FIFO with a reader, /dev/stdout, a socket, and a sticky folder."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading

import pytest

from portdoctor.exitcodes import UsageError
from portdoctor.output import write_report

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (mknod, chown)")


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portdoctor", "--report", *args], capture_output=True, text=True,
                          timeout=60, **kw)


@needs_root
def test_a_character_device_is_written_in_place_not_replaced(tmp_path, free_port):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # the same device as /dev/null
    r = run_cli("-o", str(null), "--format", "json", f"127.0.0.1:{free_port}")
    assert r.returncode == 1, r.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode), "the device was replaced by a regular file"
    assert os.listdir(tmp_path) == ["null"]  # no temp file left behind


def test_a_fifo_is_written_in_place_for_its_reader(tmp_path, free_port):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    r = run_cli("-o", str(fifo), "--format", "json", f"127.0.0.1:{free_port}")
    reader.join(30)
    assert r.returncode == 1, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b'"verdict"' in received[0]


def test_a_fifo_without_a_reader_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="nothing reads it"):
        write_report(fifo, "x")


def test_dev_stdout_is_stdout(free_port):
    r = run_cli("-o", "/dev/stdout", "--format", "json", f"127.0.0.1:{free_port}")
    assert r.returncode == 1, r.stderr
    assert '"verdict"' in r.stdout


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(UsageError, match="socket"):
            write_report(path, "x")


@needs_root
def test_another_users_file_in_a_sticky_folder_is_not_replaced(tmp_path, free_port):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    planted = shared / "report.json"
    planted.write_text("planted")
    os.chmod(planted, 0o666)
    os.chown(planted, 65534, 65534)  # nobody's
    r = run_cli("-o", str(planted), f"127.0.0.1:{free_port}")
    assert r.returncode == 2 and "refusing to replace" in r.stderr, r.stderr
    assert planted.read_text() == "planted" and os.stat(planted).st_uid == 65534


def test_a_regular_file_is_still_replaced_atomically(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("old")
    os.chmod(path, 0o600)
    write_report(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
