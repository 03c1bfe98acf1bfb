"""Is a container behind this port, and does it serve it? Asks the container engine.

Docker and Podman know things the host's sockets and rules cannot show: a published
container that has exited leaves no socket and no rule, docker-proxy accepts a
connection even when nothing answers inside, and a listener inside a container is
invisible from the host. This check asks the engine (``portdoctor.facts.engine``),
follows the port into the container's network namespace, and probes the container's
own address (the backend) rather than trusting docker-proxy's accept:

- published, container exited / dead → ``not-listening`` with its state, exit code and
  ``docker start`` / ``docker logs``;
- published, container in a restart loop (restarting, or running for seconds after a
  restart: ``Container.restart_loop``) → ``not-listening`` with ``docker logs`` first; its
  evidence ``restart_loop`` puts it ahead of whatever the host side showed at that instant;
- published, app inside bound to 127.0.0.1 / ::1 → ``wrong-interface``;
- published to container port 80 while the app listens on 8000 → ``not-listening`` with
  the right ``-p`` / compose ``ports:`` line;
- a listener only inside a container that does not publish it → ``other-namespace``
  with the container, its compose service and the ``-p`` / ``ports:`` fix.

With Docker's ``--userland-proxy=false`` the host socket on the port belongs to
``dockerd`` (a reservation that never accepts): the DNAT path is judged, not that socket.
Nothing is asked when no engine socket exists; an unreadable socket is a ``skip``.
"""

from __future__ import annotations

from portdoctor.api import (
    ENGINE_SOCKETS,
    Check,
    Context,
    Finding,
    Outcome,
    Probe,
    Socket,
    dataclass,
    fix,
    hostport,
    is_loopback,
    shell_quote,
)

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from portdoctor.api import container_engine

# Processes that hold a published port on the host on behalf of a container.
PUBLISHERS = {"docker-proxy", "dockerd", "rootlessport", "rootlesskit", "slirp4netns", "conmon", "podman",
              "pasta", "pasta.avx2", "containerd"}
# Dev servers that bind loopback by default, and how to make them bind every address.
DEV_SERVERS = ("Most dev servers bind 127.0.0.1 by default: uvicorn/flask/vite/next `--host 0.0.0.0`, "
               "rails `-b 0.0.0.0`, Django `runserver 0.0.0.0:PORT`, http.server `--bind 0.0.0.0`, "
               "webpack-dev-server `--host 0.0.0.0`, `ng serve --host 0.0.0.0`.")


def _serves_from_outside(sock: Socket) -> bool:
    """Would a connection to the container's own address reach this socket?"""
    return not is_loopback(sock.address)


def _loop_words(c: container_engine.Container, loop: dict) -> str:
    """How a report names a restart loop: ``restarting in a loop (4 restarts, exit code 1)``, or for
    the moment between two crashes ``restarting in a loop (3 restarts; this run started 1 s ago)``."""
    parts = [f"{c.restart_count} restart" + ("s" if c.restart_count != 1 else "")]
    if loop.get("exit_code") is not None:
        parts[0] += f", exit code {loop['exit_code']}"
    if "up_seconds" in loop:
        parts.append(f"this run started {loop['up_seconds']:.0f} s ago")
    if loop.get("health") == "starting":
        parts.append("its health check has not passed since")
    return f"restarting in a loop ({'; '.join(parts)})"


@dataclass
class _Behind:
    """What is behind a published port inside a running container."""

    address: str | None  # the container's own address
    backend: Probe | None  # a connection to that address; None: no address, or the probe itself failed
    listeners: list[Socket] | None  # every listener inside; None: its namespace could not be read (not root)
    on_port: list[Socket]  # those on the published container port
    reachable: list[Socket]  # of those, the ones a connection to the container's address reaches

    @property
    def backend_ok(self) -> bool:
        return self.backend is None or self.backend.outcome is Outcome.OPEN

    @property
    def serving(self) -> bool:
        """The app answers behind the port: a listener reachable inside, or (not root) the backend probe."""
        return (bool(self.reachable) and self.backend_ok) or (
            self.listeners is None and self.backend is not None and self.backend.outcome is Outcome.OPEN)


def _compose_ports_line(host_port: int, container_port: int, protocol: str) -> str:
    suffix = "/udp" if protocol == "udp" else ""
    return f'ports: ["{host_port}:{container_port}{suffix}"]'


class ContainerCheck(Check):
    name = "container"
    title = "Is a container behind this port, and does it serve it?"
    # The engine's view is the most specific evidence, and on equal causes the verdict
    # keeps pipeline order.
    before = ("service-running", "published-ports")
    order = 95
    timeout = 10.0  # the engine (2 s) and one backend probe

    def applies(self, ctx: Context) -> bool:
        if ctx.target.container:
            return True
        if not any(ctx.facts.is_local(a) for a in ctx.addresses):
            return False
        sockets = ctx.fact(ENGINE_SOCKETS)  # a few stat calls; nothing else
        return bool(sockets)

    def run(self, ctx: Context) -> Finding:
        from portdoctor.api import container_engine

        port, proto = ctx.target.port, ctx.target.protocol
        here = ctx.listeners()
        owners = {s.process for s in here if s.process}
        container_target = ctx.target.container
        if (not container_target and ctx.reachable and here and owners and not owners & PUBLISHERS
                and not ctx.facts.dnat):
            return self.passed(f"Port {port} is served by {', '.join(sorted(owners))} on this machine, "
                               "not by a container.")
        view = ctx.facts.lazy("engine", container_engine.gather_engine)
        if view is None:
            return self.passed("No container engine socket on this machine.")
        if not view.ok:
            return self.skip(f"Cannot ask the container engine: {view.error}.", how=view.hint, command=view.command,
                             evidence={"socket": view.socket})
        if container_target:
            found = view.find(container_target)
            if not found:
                return self.skip(f"The engine at {view.socket} has no container or compose service "
                                 f"named {container_target!r}.")
            return self._container_target(ctx, view, sorted(found, key=lambda c: not c.running)[0])
        publishing = [(c, b) for c in view.containers for b in c.publishes(port, proto) if self._serves(ctx, b)]
        if publishing:
            # A running publisher holds the port; stopped ones only remember it.
            publishing.sort(key=lambda cb: not cb[0].running)
            container, binding = publishing[0]
            return self._published(ctx, view, container, binding)
        return self._listener_inside(ctx, view, here)

    def _container_target(self, ctx: Context, view: container_engine.EngineView, c: container_engine.Container) -> Finding:
        """container:NAME[:PORT]: the engine's view, the published path, inside the namespace."""
        from portdoctor.api import container_engine

        port, proto = ctx.target.port, ctx.target.protocol
        inner = ctx.target.container_port or port
        binding = next((b for b in c.published if b.host_port == port and b.container_port == inner
                        and b.protocol == proto), None)
        if binding is not None:
            return self._published(ctx, view, c, binding)
        if not c.running:
            return self._not_published(ctx, c, inner)
        inside = container_engine.listeners_inside(c, ctx.facts.privileged)
        on_port = [s for s in inside or [] if s.port == inner and s.protocol == proto]
        if inside is not None and not on_port:
            others = sorted({s.port for s in inside if s.protocol == proto})
            return self.fail(
                "not-listening",
                f"Nothing listens on port {inner} inside container {c.label}"
                + (f"; the app listens on {', '.join(map(str, others))}." if others else "."),
                "The container does not publish the port either.",
                [fix(f"Use the port the app listens on: portdoctor container:{c.name}:{others[0]}",
                     f"portdoctor container:{shell_quote(c.name)}:{others[0]}") if others else
                 fix("Read the container's output for the app's errors.",
                     f"{c.engine} logs --tail 50 {shell_quote(c.name)}")],
                evidence={"container": c.to_dict(), "inside": [hostport(s.address, s.port) for s in inside]})
        return self._not_published(ctx, c, inner, sock=on_port[0] if on_port else None)

    # --- the port is published by a container ---------------------------------------
    def _serves(self, ctx: Context, binding: container_engine.PortBinding) -> bool:
        if binding.host_ip in ("", "0.0.0.0", "::"):
            return True
        return any(p.address == binding.host_ip for p in ctx.probes) or not ctx.probes

    def _published(self, ctx: Context, view: container_engine.EngineView, c: container_engine.Container,
                   binding: container_engine.PortBinding) -> Finding:
        """A container publishes the port: is it running, does a rule forward to it, does the app inside serve it?"""
        port = ctx.target.port
        evidence = dict(container=c.to_dict(), engine=view.socket)
        mapping = f"{port} → container port {binding.container_port}/{binding.protocol}"
        if not c.running:
            return self._stopped(ctx, c, mapping, evidence)
        behind = self._look_behind(ctx, c, binding, evidence)
        loop = c.restart_loop()
        if loop and not behind.serving:
            # Caught between two crashes of a restart loop: running for a moment, serving nothing.
            # Whatever the host side shows at this instant (a proxy half started, a rule not yet
            # written, the app not yet bound) comes and goes with each restart.
            return self._stopped(ctx, c, mapping, evidence, loop=loop)
        missing = self._missing_forward(ctx)
        if missing:
            return self._no_forward(ctx, c, mapping, missing, evidence)
        if loop:
            return self._answers_between_restarts(ctx, c, mapping, loop, evidence)
        return self._app_inside(ctx, c, binding, mapping, behind, evidence)

    def _look_behind(self, ctx: Context, c: container_engine.Container, binding: container_engine.PortBinding,
                     evidence: dict) -> _Behind:
        """Probe the container's own address and read its listeners; what was seen goes into ``evidence``."""
        from portdoctor.api import container_engine

        proto = ctx.target.protocol
        address = next(iter(c.addresses()), None)
        backend: Probe | None = None  # None: no address to probe, or the probe itself failed
        if address:
            backend = ctx.facts.lazy(f"backend {address} {binding.container_port}",
                                     lambda _s: container_engine.probe_backend(address, binding.container_port, proto,
                                                                           min(ctx.options.timeout, 2.0)))
        if backend is not None:
            evidence["backend"] = {"address": hostport(backend.address, binding.container_port),
                                   "outcome": str(backend.outcome)}
        inside = container_engine.listeners_inside(c, ctx.facts.privileged)
        if inside is not None:
            evidence["inside"] = [hostport(s.address, s.port) for s in inside if s.protocol == proto]
        on_port = [s for s in inside or [] if s.port == binding.container_port and s.protocol == proto]
        return _Behind(address, backend, inside, on_port, [s for s in on_port if _serves_from_outside(s)])

    def _no_forward(self, ctx: Context, c: container_engine.Container, mapping: str, missing: str,
                    evidence: dict) -> Finding:
        """``--userland-proxy=false`` and Docker's DNAT rule is gone: dockerd's reservation never answers."""
        port, tool = ctx.target.port, c.engine
        return self.fail(
            "firewall",
            f"Port {port} is published by container {c.label} ({mapping}), but no NAT rule forwards "
            f"{missing} to it: the connection waits on dockerd's port reservation, which never answers.",
            "With the userland proxy off (`\"userland-proxy\": false`), dockerd only holds the host port so "
            "nothing else takes it; the traffic reaches the container through the DNAT rule Docker adds to "
            "its nat `DOCKER` chain. That rule is gone (a firewall reload or `iptables -t nat -F` removes "
            "Docker's rules), so connections queue on a socket that never accepts.",
            [fix("Let Docker write its rules again: restart the container (or the daemon).",
                 f"{tool} restart {shell_quote(c.name)}"),
             fix("See the nat rules Docker should have.", "sudo iptables -t nat -S DOCKER"),
             fix("If a firewall manager (firewalld, ufw, a script) flushes the nat table, restart Docker "
                 "after it.", "sudo systemctl restart docker")],
            evidence=evidence)

    def _answers_between_restarts(self, ctx: Context, c: container_engine.Container, mapping: str,
                                  loop: dict, evidence: dict) -> Finding:
        """It serves now, but the engine keeps restarting it: a warning, with its logs."""
        port, tool = ctx.target.port, c.engine
        evidence["restart_loop"] = loop
        return self.warn(
            f"Port {port} is published by container {c.label} ({mapping}) and answers now, but the engine "
            f"restarted the container {c.restart_count} times"
            + (f", the last {loop['up_seconds']:.0f} s ago" if "up_seconds" in loop else "")
            + ": it may be in a restart loop.",
            "The engine restarted it by its restart policy; a container that keeps crashing serves only "
            "between two crashes.",
            [fix("Read why it restarted.", f"{tool} logs --tail 50 {shell_quote(c.name)}")], evidence=evidence)

    def _app_inside(self, ctx: Context, c: container_engine.Container, binding: container_engine.PortBinding,
                    mapping: str, behind: _Behind, evidence: dict) -> Finding:
        """Running and forwarded: judged by what listens inside, or, when that cannot be read, the backend probe."""
        port = ctx.target.port
        backend = behind.backend
        if behind.reachable and behind.backend_ok:
            return self.passed(f"Port {port} is published by container {c.label} ({mapping}), and the app "
                               f"inside listens on {hostport(behind.reachable[0].address, binding.container_port)}"
                               + (" and answers." if backend else "."), evidence=evidence)
        if behind.listeners is None and backend is not None and backend.outcome is Outcome.OPEN:
            return self.passed(f"Port {port} is published by container {c.label} ({mapping}); its address "
                               f"{hostport(backend.address, binding.container_port)} answers.", evidence=evidence)
        if behind.on_port and not behind.reachable:
            return self._loopback_inside(ctx, c, binding, mapping, behind, evidence)
        if behind.listeners is not None and not behind.on_port:
            return self._not_on_container_port(ctx, c, binding, mapping, behind.listeners, evidence)
        # We could not look inside (not root): judge by the backend probe alone.
        if backend is not None and backend.outcome is not Outcome.OPEN:
            return self._backend_silent(ctx, c, binding, mapping, backend, evidence)
        return self.passed(f"Port {port} is published by container {c.label} ({mapping}).", evidence=evidence)

    def _loopback_inside(self, ctx: Context, c: container_engine.Container, binding: container_engine.PortBinding,
                         mapping: str, behind: _Behind, evidence: dict) -> Finding:
        """The app inside listens on the container's loopback only: published traffic cannot reach it."""
        port, tool, backend, address = ctx.target.port, c.engine, behind.backend, behind.address
        bound = ", ".join(sorted({hostport(s.address, s.port) for s in behind.on_port}))
        return self.fail(
            "wrong-interface",
            f"The app in container {c.label} listens on {bound} inside the container: loopback only, so "
            f"the published port {port} cannot reach it.",
            f"Port {port} is published ({mapping}), but inside the container the app is bound to its own "
            "loopback. Published traffic arrives on the container's network interface"
            + (f" ({address})" if address else "") + ", where nothing listens"
            + (f" (a connection to {hostport(backend.address, binding.container_port)} was {backend.outcome})"
               if backend else "")
            + ". Through docker-proxy the connect to the host port succeeds and the client then gets an "
            "empty reply or a reset; through NAT it is refused.",
            [fix(f"Make the app in {c.name} listen on 0.0.0.0 (every address) instead of 127.0.0.1, then "
                 f"restart the container. {DEV_SERVERS}", f"{tool} restart {shell_quote(c.name)}"),
             fix("See what listens inside the container.",
                 f"{tool} exec {shell_quote(c.name)} netstat -ltn")],
            evidence=evidence)

    def _not_on_container_port(self, ctx: Context, c: container_engine.Container,
                               binding: container_engine.PortBinding, mapping: str, inside: list[Socket],
                               evidence: dict) -> Finding:
        """Nothing listens inside on the published container port: the app uses another port, or none."""
        port, proto, tool = ctx.target.port, ctx.target.protocol, c.engine
        others = sorted({s.port for s in inside if s.protocol == proto and s.port != binding.container_port})
        if others:
            right = others[0]
            return self.fail(
                "not-listening",
                f"Container {c.label} publishes {port} to container port {binding.container_port}, but the app "
                f"inside listens on {', '.join(map(str, others))}.",
                f"Port {port} is published ({mapping}); nothing listens on {binding.container_port} inside the "
                f"container, while {', '.join(map(str, others))} is listening there. Map the host port to the "
                "port the app really uses (or make the app use the published one).",
                [fix(f"Publish the port the app listens on: recreate {c.name} with `-p {port}:{right}`"
                     + (f", or in compose service {c.compose_service}: `{_compose_ports_line(port, right, proto)}`"
                        if c.compose_service else "") + ".",
                     f"{tool} run -p {port}:{right} ..." if not c.compose_service
                     else f"{tool} compose up -d {shell_quote(c.compose_service)}"),
                 fix(f"Or make the app listen on {binding.container_port} inside the container.", None)],
                evidence={"mismatch": {"published_to": binding.container_port, "listening": others}, **evidence})
        return self.fail(
            "not-listening",
            f"Container {c.label} publishes {port} to container port {binding.container_port}, but nothing "
            "listens inside the container.",
            f"Port {port} is published ({mapping}) and the container is running, but no socket listens in "
            "its network namespace: the app has not started yet, crashed inside, or listens on a Unix socket.",
            [fix("Read the container's output for the app's errors.", f"{tool} logs --tail 50 {shell_quote(c.name)}"),
             fix("See the processes inside the container.", f"{tool} top {shell_quote(c.name)}")],
            evidence=evidence)

    def _backend_silent(self, ctx: Context, c: container_engine.Container, binding: container_engine.PortBinding,
                        mapping: str, backend: Probe, evidence: dict) -> Finding:
        """Without a view inside (not root): the container's own address does not accept."""
        port, tool = ctx.target.port, c.engine
        return self.fail(
            "not-listening",
            f"Container {c.label} publishes {port} ({mapping}), but the container's own address "
            f"{hostport(backend.address, binding.container_port)} does not accept ({backend.outcome}).",
            "Whatever the host side shows (docker-proxy accepts every connection itself), the app in the "
            f"container does not answer on {binding.container_port}: it is not listening on that port, or "
            "only on the container's loopback (127.0.0.1). Looking inside the container's network namespace "
            "needs root.",
            [fix("See what listens inside the container (loopback-only or another port).",
                 f"{tool} exec {shell_quote(c.name)} netstat -ltn"),
             fix("Or let portdoctor look inside.", f"sudo portdoctor --report {shell_quote(ctx.target.input)}")],
            evidence=evidence)

    def _missing_forward(self, ctx: Context) -> str | None:
        """The local address whose connection lands on dockerd's port reservation because no
        DNAT rule forwards it (``--userland-proxy=false`` with its rule gone), or None.

        Said only when the owner and the nat rules were both visible."""
        port, proto = ctx.target.port, ctx.target.protocol
        reserved = [s for s in ctx.listeners() if s.process == "dockerd"]
        if not reserved or not ctx.facts.privileged or "nat" in ctx.facts.visibility:
            return None
        for probe in ctx.probes:
            if not ctx.facts.is_local(probe.address) or not any(ctx.facts.serves(s, probe.address) for s in reserved):
                continue
            if not any(r.hook == "output" and r.matches(port, proto, probe.address) for r in ctx.facts.dnat or []):
                return probe.address
        return None

    def _stopped(self, ctx: Context, c: container_engine.Container, mapping: str, evidence: dict,
                 loop: dict | None = None) -> Finding:
        port, tool, name = ctx.target.port, c.engine, shell_quote(c.name)
        loop = loop or c.restart_loop()
        code = (f", exit code {c.exit_code}" if c.exit_code is not None and c.state not in ("created", "running", "paused")
                else "")
        state = {"created": "created but never started"}.get(c.state, c.state) + code
        if loop:
            state = _loop_words(c, loop)
            evidence["restart_loop"] = loop
        detail = (f"Port {port} is published by container {c.label} ({mapping}), but the container is {state}"
                  f" ({c.status or c.state}). A stopped container keeps its port mapping in the engine, but no "
                  "socket or forwarding rule exists until it runs again.")
        if loop and c.running:
            detail = (f"Port {port} is published by container {c.label} ({mapping}). The engine shows it running "
                      f"({c.status or c.state}), but it is {state}: the app exits and the engine starts it again. "
                      "Between two crashes the host side comes and goes (the proxy, the forwarding rule, the app's "
                      "socket), so whatever else this report saw at this instant follows from the loop.")
        if c.error:
            detail += f" The engine says: {c.error}."
        if loop:
            steps = [fix(f"The container keeps crashing (restarted {c.restart_count} times); read why.",
                         f"{tool} logs --tail 50 {name}"),
                     fix("Fix the cause, then start it again.", f"{tool} restart {name}")]
        elif c.state == "paused":
            steps = [fix("Unpause the container.", f"{tool} unpause {name}")]
        elif c.restart_count > 0 and c.state in ("exited", "dead"):
            # Its restart policy gave up (on-failure:N): starting it again only repeats the crash.
            state += f", after {c.restart_count} restart" + ("s" if c.restart_count != 1 else "")
            steps = [fix(f"It crashed again after each of {c.restart_count} restarts; read why.",
                         f"{tool} logs --tail 50 {name}"),
                     fix("Fix the cause, then start it.", f"{tool} start {name}")]
        else:
            steps = [fix("Start the container.", f"{tool} start {name}"),
                     fix("Read why it stopped.", f"{tool} logs --tail 50 {name}")]
        if c.compose_service:
            steps.append(fix(f"With compose, start service {c.compose_service}.",
                             f"{tool} compose up -d {shell_quote(c.compose_service)}"))
        return self.fail("not-listening", f"Port {port} belongs to container {c.label}, which is {state}.",
                         detail, steps, evidence=evidence)

    # --- not published: a listener inside a container --------------------------------
    def _listener_inside(self, ctx: Context, view: container_engine.EngineView, here: list[Socket]) -> Finding:
        from portdoctor.api import container_engine

        port, proto = ctx.target.port, ctx.target.protocol
        if here and not (ctx.facts.dnat or {s.process for s in here} & PUBLISHERS):
            return self.passed(f"No container publishes port {port}; it is served on this machine.")
        inside = [s for s in ctx.listeners(own_namespace=False) if s.namespace is not None]
        for s in inside:
            c = container_engine.container_of_socket(view, s, ctx.facts.namespaces)
            if c is not None:
                return self._not_published(ctx, c, port, sock=s)
        if ctx.reachable:
            return self.passed(f"No container of {len(view.containers)} publishes port {port}.")
        exposing = [c for c in view.containers if c.running and any(
            b.container_port == port and b.protocol == proto for b in c.exposed)]
        if exposing:
            c = exposing[0]
            told = self._not_published(ctx, c, port)
            return self.warn(f"Container {c.label} declares port {port} (EXPOSE) but does not publish it; "
                             "whether the app listens inside could not be seen.", told.detail, told.remediation,
                             cause="other-namespace", evidence=told.evidence)
        return self.passed(f"No container of {len(view.containers)} publishes or serves port {port}.")

    def _not_published(self, ctx: Context, c: container_engine.Container, container_port: int,
                       sock: Socket | None = None) -> Finding:
        port, proto, tool = ctx.target.port, ctx.target.protocol, c.engine
        evidence = dict(container=c.to_dict())
        loop = c.restart_loop() if c.state == "restarting" else None
        if loop:
            evidence["restart_loop"] = loop
            return self.fail("not-listening", f"Container {c.label} is {_loop_words(c, loop)}.", c.status,
                             [fix("The container keeps crashing; read why.", f"{tool} logs --tail 50 {shell_quote(c.name)}"),
                              fix("Fix the cause, then start it again.", f"{tool} restart {shell_quote(c.name)}")],
                             evidence=evidence)
        if not c.running:
            return self.fail("not-listening", f"Container {c.label} is {c.state}"
                             + (f" (exit code {c.exit_code})" if c.exit_code is not None else "") + ".",
                             c.status, [fix("Start the container.", f"{tool} start {shell_quote(c.name)}"),
                                        fix("Read why it stopped.", f"{tool} logs --tail 50 {shell_quote(c.name)}")],
                             evidence=evidence)
        elsewhere = [b for b in c.published if b.container_port == container_port and b.protocol == proto]
        address = next(iter(c.addresses()), None)
        where = f" ({hostport(sock.address, sock.port)} inside)" if sock else ""
        title = (f"Port {container_port} is served inside container {c.label}{where}, which does not publish it"
                 + (f" on {port}" if elsewhere else "") + ".")
        detail = (f"The listener lives in the container's own network namespace; without a published port "
                  f"(`-p`) nothing on the host's port {port} forwards to it.")
        steps = []
        if elsewhere:
            steps.append(fix(f"The container publishes port {container_port} as host port {elsewhere[0].host_port}; "
                             "connect there.", f"portdoctor 127.0.0.1:{elsewhere[0].host_port}"))
        suffix = "/udp" if proto == "udp" else ""
        host_port = port if not ctx.target.container else container_port
        publish = (f"Publish it: recreate {c.name} with `-p {host_port}:{container_port}{suffix}`"
                   + (f", or add to compose service {c.compose_service}: "
                      f"`{_compose_ports_line(host_port, container_port, proto)}`" if c.compose_service else "") + ".")
        steps.append(fix(publish, f"{tool} compose up -d {shell_quote(c.compose_service)}" if c.compose_service
                         else f"{tool} run -p {host_port}:{container_port}{suffix} {shell_quote(c.image or 'IMAGE')}"))
        if sock is not None and is_loopback(sock.address):
            steps.append(fix("The app inside listens on loopback only; bind it to 0.0.0.0 as well, or the "
                             f"published port will not reach it. {DEV_SERVERS}"))
        if address:
            steps.append(fix("From this host (Linux), the container's own address reaches it without publishing.",
                             f"portdoctor {hostport(address, container_port)}"))
        return self.fail("other-namespace", title, detail, steps, evidence=evidence)
