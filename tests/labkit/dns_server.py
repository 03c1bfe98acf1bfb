"""A hostile DNS server for the lab: runs inside a lab namespace on 127.0.0.1:53.

    python dns_server.py silent        never answers (UDP or TCP): a resolver that hangs
    python dns_server.py many N PREFIX answers every A query with N addresses PREFIX.x.y
                                       (over UDP with the truncated bit set, so the client
                                       asks again over TCP and gets all N), AAAA with none

It binds, then detaches (a child in its own session, stdio on /dev/null) and the command
returns, so a lab setup line can start it; the namespace's end kills it.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading


def question_end(query: bytes) -> int:
    """The offset just after the (single) question of a query."""
    at = 12
    while query[at]:
        at += 1 + query[at]
    return at + 1 + 4


def answer(query: bytes, count: int, prefix: str, *, truncated: bool) -> bytes:
    ident, _flags = struct.unpack("!HH", query[:4])
    end = question_end(query)
    qtype = struct.unpack("!H", query[end - 4:end - 2])[0]
    records = b""
    n = count if qtype == 1 and not truncated else 0
    for i in range(n):
        address = socket.inet_aton(f"{prefix}.{i // 250}.{i % 250 + 1}")
        records += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + address
    flags = 0x8180 | (0x0200 if truncated and qtype == 1 else 0)
    return struct.pack("!HHHHHH", ident, flags, 1, n, 0, 0) + query[12:end] + records


def serve_udp(sock: socket.socket, mode: str, count: int, prefix: str) -> None:
    while True:
        query, peer = sock.recvfrom(4096)
        if mode == "many":
            sock.sendto(answer(query, count, prefix, truncated=True), peer)


def serve_tcp(sock: socket.socket, mode: str, count: int, prefix: str) -> None:
    while True:
        conn, _ = sock.accept()
        if mode == "silent":
            threading.Thread(target=lambda c=conn: (c.recv(4096), __import__("time").sleep(3600)), daemon=True).start()
            continue
        threading.Thread(target=answer_tcp, args=(conn, count, prefix), daemon=True).start()


def answer_tcp(conn: socket.socket, count: int, prefix: str) -> None:
    """Every query on one connection (a resolver may send A and AAAA on the same one)."""
    data = b""
    with conn:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
            while len(data) >= 2 and len(data) >= 2 + struct.unpack("!H", data[:2])[0]:
                size = struct.unpack("!H", data[:2])[0]
                query, data = data[2:2 + size], data[2 + size:]
                reply = answer(query, count, prefix, truncated=False)
                conn.sendall(struct.pack("!H", len(reply)) + reply)


def main() -> None:
    mode = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    prefix = sys.argv[3] if len(sys.argv) > 3 else "127.1"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 53))
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", 53))
    tcp.listen(64)
    if os.fork():
        os._exit(0)  # bound: the setup line may go on
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    threading.Thread(target=serve_udp, args=(udp, mode, count, prefix), daemon=True).start()
    serve_tcp(tcp, mode, count, prefix)


if __name__ == "__main__":
    main()
