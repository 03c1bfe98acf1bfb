"""A real listener for the lab: binds as told, prints "ready", serves until killed.

Argument: one JSON object (see labkit.Listener). The process renames itself (comm)
to ``name`` so portdoctor sees e.g. "postgres" as the owner.
"""

import ctypes
import json
import socket
import sys
import time


def set_name(name):
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME
    except Exception:  # noqa: BLE001 (a process name is cosmetic)
        pass


def serve_unix(spec):
    import os

    os.makedirs(os.path.dirname(spec["address"]), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(spec["address"])
    if spec.get("unix_group") is not None:
        os.chown(spec["address"], -1, spec["unix_group"])
    if spec.get("unix_mode") is not None:
        os.chmod(spec["address"], spec["unix_mode"])
    s.listen(spec.get("backlog", 128))
    print("ready", flush=True)
    while True:
        conn, _ = s.accept()
        conn.close()


def main():
    spec = json.loads(sys.argv[1])
    set_name(spec["name"])
    if spec.get("delay"):
        time.sleep(spec["delay"])
    if spec["protocol"] == "unix":  # address is a filesystem path: a Unix-socket-only service
        serve_unix(spec)
    family = socket.AF_INET6 if ":" in spec["address"] else socket.AF_INET
    kind = socket.SOCK_DGRAM if spec["protocol"] == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and spec.get("v6only") is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if spec["v6only"] else 0)
    try:
        s.bind((spec["address"], spec["port"]))
    except OSError as exc:
        print(f"bind failed: {exc}", flush=True)
        while spec.get("linger"):
            time.sleep(3600)
        sys.exit(1)
    clients = []
    if kind == socket.SOCK_STREAM:
        s.listen(spec.get("backlog", 128))
        for _ in range(spec.get("fill", 0)):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect((spec["address"] if spec["address"] not in ("0.0.0.0", "::") else
                           ("127.0.0.1" if family == socket.AF_INET else "::1"), spec["port"]))
            except (BlockingIOError, OSError):
                pass
            clients.append(c)
        time.sleep(0.2 if spec.get("fill") else 0)
    print("ready", flush=True)
    if kind == socket.SOCK_DGRAM and not spec.get("reply", True):
        while True:  # a UDP service that ignores what it receives (e.g. empty datagrams)
            s.recvfrom(65535)
    if kind == socket.SOCK_DGRAM:
        while True:
            _data, peer = s.recvfrom(65535)
            s.sendto(b"pong", peer)
    if not spec.get("accept", True):
        while True:
            time.sleep(3600)
    while True:
        conn, _ = s.accept()
        conn.close()


if __name__ == "__main__":
    main()
