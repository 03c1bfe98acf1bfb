"""Connection probes: one bounded attempt per resolved address, classified.

TCP: a connect with a deadline; open / refused / timeout / unreachable / error. An open
probe records its own local port (``Probe.source_port``) so that checks can leave out the
sockets our own connection leaves behind (a CLOSE-WAIT on a listener that never accepts).
UDP: an empty datagram and a short wait for a reply or an ICMP port-unreachable
(seen as ECONNREFUSED); silence is reported as ``timeout`` ("open|filtered").
All addresses are probed at once, so a DROP rule costs one timeout, not one per address.
Unix stream sockets (:func:`probe_unix`): a connect to the path, errno kept.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import time

from portdoctor.model import Outcome, Probe

_UNREACHABLE = {errno_mod.ENETUNREACH, errno_mod.EHOSTUNREACH, errno_mod.EADDRNOTAVAIL}
if hasattr(errno_mod, "EHOSTDOWN"):
    _UNREACHABLE.add(errno_mod.EHOSTDOWN)


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _sockaddr(address: str, port: int) -> tuple:
    if ":" in address:
        host, _, zone = address.partition("%")
        scope = socket.if_nametoindex(zone) if zone and not zone.isdigit() else int(zone or 0)
        return (host, port, 0, scope)
    return (address, port)


def _classify(exc: OSError) -> tuple[Outcome, int | None, str]:
    code = exc.errno
    words = os.strerror(code) if code else str(exc)
    if code == errno_mod.ECONNREFUSED:
        return Outcome.REFUSED, code, words
    if code == errno_mod.ETIMEDOUT or isinstance(exc, (socket.timeout, TimeoutError)):
        return Outcome.TIMEOUT, code, "no answer before the deadline"
    if code in _UNREACHABLE:
        return Outcome.UNREACHABLE, code, words
    return Outcome.ERROR, code, words


def probe_tcp(address: str, port: int, timeout: float) -> Probe:
    start = time.perf_counter()
    try:
        sock = socket.socket(_family(address), socket.SOCK_STREAM)
    except OSError as exc:
        _, code, words = _classify(exc)
        return Probe(address, Outcome.ERROR, 0.0, code, words)
    outcome: Outcome
    errno: int | None
    error: str | None
    source_port = None
    try:
        sock.settimeout(timeout)
        sock.connect(_sockaddr(address, port))
        outcome, errno, error = Outcome.OPEN, None, None
        try:  # so checks can tell our own connection (e.g. a CLOSE-WAIT it leaves) from others'
            source_port = sock.getsockname()[1]
        except OSError:
            pass
    except TimeoutError as exc:
        outcome, errno, error = Outcome.TIMEOUT, getattr(exc, "errno", None), "no answer before the deadline"
    except OSError as exc:
        outcome, errno, error = _classify(exc)
    finally:
        sock.close()
    return Probe(address, outcome, (time.perf_counter() - start) * 1000, errno, error, source_port)


def probe_udp(address: str, port: int, timeout: float) -> Probe:
    start = time.perf_counter()
    sock = socket.socket(_family(address), socket.SOCK_DGRAM)
    try:
        sock.settimeout(min(timeout, 1.0))
        sock.connect(_sockaddr(address, port))
        sock.send(b"")
        sock.recv(1)
        outcome, code, words = Outcome.OPEN, None, None
    except TimeoutError:
        outcome, code, words = Outcome.TIMEOUT, None, "no reply (open or filtered: UDP has no handshake)"
    except OSError as exc:
        outcome, code, words = _classify(exc)
    finally:
        sock.close()
    return Probe(address, outcome, (time.perf_counter() - start) * 1000, code, words)


def probe_unix(path: str, timeout: float) -> Probe:
    """Connect to a Unix stream socket: open, refused (a file nobody listens on), or an error.

    ``EAGAIN`` is the kernel's answer when the listener's accept queue is full; it is
    reported as a timeout (the connection would wait). ``errno`` tells the rest apart:
    ``ENOENT`` no such file, ``EACCES`` no permission, ``ECONNREFUSED`` no listener.
    """
    start = time.perf_counter()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        outcome, code, words = Outcome.OPEN, None, None
    except TimeoutError:
        outcome, code, words = Outcome.TIMEOUT, None, "no answer before the deadline"
    except BlockingIOError as exc:
        outcome, code, words = Outcome.TIMEOUT, exc.errno, "the listener's accept queue is full (EAGAIN)"
    except OSError as exc:
        outcome, code, words = _classify(exc)
    finally:
        sock.close()
    return Probe(path, outcome, (time.perf_counter() - start) * 1000, code, words)


PROBE_WORKERS = 16
DEADLINE_GRACE = 1.0  # seconds beyond --timeout that all probes of a target may take


def probe_all(addresses: list[str], port: int, protocol: str, timeout: float) -> list[Probe]:
    """Probe the addresses concurrently, in resolver order, under ONE deadline.

    All probes of a target finish within ``timeout + DEADLINE_GRACE`` seconds, however
    many addresses there are (1 000 A records behind a DROP rule): a probe starts only
    while the deadline has not passed, and waits at most until it. Addresses left
    unprobed are missing from the result (the pipeline notes them); the first ones in
    resolver order, which decide reachability, are always probed.
    """
    if not addresses:
        return []
    import threading

    fn = probe_udp if protocol == "udp" else probe_tcp
    deadline = time.monotonic() + timeout + DEADLINE_GRACE
    results: list[Probe | None] = [None] * len(addresses)
    todo = iter(range(len(addresses)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                remaining = deadline - time.monotonic()
                index = next(todo, None) if remaining > 0.05 else None
            if index is None:
                return
            results[index] = fn(addresses[index], port, min(timeout, remaining))

    threads = [threading.Thread(target=worker, name="portdoctor-probe", daemon=True)
               for _ in range(min(PROBE_WORKERS, len(addresses)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + timeout + 1.0)
    return [p for p in results if p is not None]
