"""Is the listener in another network namespace (a container, an ``ip netns``)?

Fails with ``other-namespace`` when nothing listens on the target's port in our own
network namespace but something does in another one: a container started without
``-p``, a service inside ``ip netns``. Warns when portdoctor itself runs in a container
and the target is localhost (which is then the container, not the host). Without
root other namespaces are invisible: that is a ``skip`` with how to look.
"""

from __future__ import annotations

import ipaddress

from portdoctor.api import Check, Context, Finding, Socket, fix, hostport, is_loopback, owner_label, shell_quote


class OtherNamespaceCheck(Check):
    name = "other-namespace"
    title = "Is the listener in another network namespace (a container)?"
    order = 150

    def run(self, ctx: Context) -> Finding:
        port = ctx.target.port
        own = ctx.listeners()
        others = [s for s in ctx.listeners(own_namespace=False) if s.namespace is not None]
        if own:
            return self.passed(f"A listener on port {port} is in this network namespace.")
        if not ctx.addresses:
            return self.skip("The name did not resolve, so there is no address to compare with.")
        if not _targets_this_machine(ctx):
            return self.passed(f"{ctx.target.host} is not an address of this machine or its local networks; "
                               "namespaces here do not matter.")
        if others and ctx.reachable:
            return self.passed(f"Connected; port {port} is also served in {others[0].namespace}.")
        if others:
            return self._other_namespace(ctx, others)
        inside_container = ctx.facts.in_container if _is_loopback_target(ctx) and not ctx.reachable else None
        if ctx.facts.os == "linux" and not ctx.facts.privileged:
            finding = self.skip(
                "Other network namespaces (containers, ip netns) cannot be inspected without root.",
                how="Run again with sudo to look inside containers and other network namespaces.",
                command=f"sudo portdoctor --report {shell_quote(ctx.target.input)}",
            )
            if inside_container:
                hint = self._inside_container(ctx, inside_container)
                finding.detail = f"{hint.title} {hint.detail}"
                finding.remediation += hint.remediation
            return finding
        if inside_container:
            return self._inside_container(ctx, inside_container)
        if ctx.facts.os != "linux":
            return self.skip("Network namespaces are a Linux feature; on this OS containers run in a VM.",
                             how="List the ports your containers publish.",
                             command="docker ps --format '{{.Names}}\t{{.Ports}}'")
        scanned = len(ctx.facts.namespaces)
        return self.passed(f"No other network namespace has a listener on port {port}.",
                           f"Scanned {scanned} other network namespace{'s' if scanned != 1 else ''}.")

    # ---------------------------------------------------------------------------------
    def _other_namespace(self, ctx: Context, others: list[Socket]) -> Finding:
        port = ctx.target.port
        first = others[0]
        who = owner_label(first)
        where = f"container {first.container}" if first.container else f"network namespace {first.namespace}"
        title = (f"Port {port} is served by {who} in {where}, not in this network namespace.")
        bound = ", ".join(sorted({f"{hostport(s.address, s.port)}" for s in others}))
        seen = [f"{owner_label(s)} on {hostport(s.address, s.port)} in {s.namespace}"
                + (f" (container {s.container})" if s.container else "") for s in others]
        detail = (
            f"Nothing listens on port {port} here, but: {'; '.join(seen)}. Each network namespace has "
            "its own addresses and its own localhost: a connection made here never reaches a socket "
            "over there unless the port is published or forwarded."
        )
        ss = "ss -lunp" if ctx.target.protocol == "udp" else "ss -ltnp"
        steps = []
        if first.container:
            kind, ident = first.container.split(":", 1)
            tool = "podman" if kind == "podman" else "docker"
            if kind in ("docker", "podman"):
                suffix = "/udp" if ctx.target.protocol == "udp" else ""
                steps.append(fix("Publish the port when starting the container (host port:container port).",
                                 f"{tool} run -p {port}:{port}{suffix} IMAGE"))
                steps.append(fix("See which ports the container publishes now.", f"{tool} port {ident}"))
            if any(is_loopback(s.address) for s in others):
                steps.append(fix("Inside the container the service is bound to loopback only; bind it to "
                                 "0.0.0.0 (or ::) so a published port can reach it."))
        elif first.namespace is not None and first.namespace.startswith("netns:"):
            name = first.namespace.split(":", 1)[1]
            steps.append(fix("Look at the listeners inside that namespace.", f"ip netns exec {name} {ss}"))
            steps.append(fix("Run the client inside the same namespace.",
                             f"ip netns exec {name} portdoctor --report {shell_quote(ctx.target.input)}"))
        entered: set[str | None] = set()
        for s in others:  # one nsenter line per namespace, at most three
            pid = s.pid or _namespace_pid(ctx, s.namespace)
            if pid and s.namespace not in entered and len(entered) < 3:
                entered.add(s.namespace)
                steps.append(fix(f"Enter {s.namespace} by pid and look at its listeners.",
                                 f"{'' if ctx.facts.privileged else 'sudo '}nsenter -t {pid} -n {ss}"))
        return self.fail("other-namespace", title, detail, steps,
                         evidence={"namespace": first.namespace, "container": first.container, "pid": first.pid, "process": first.process, "addresses": bound})

    def _inside_container(self, ctx: Context, kind: str) -> Finding:
        from portdoctor.api import inside_container_advice

        port, proto = ctx.target.port, ctx.target.protocol
        return self.warn(
            f"portdoctor runs inside a {kind} container: {ctx.target.host} here is the container itself, not the host.",
            f"Nothing listens for {proto.upper()} on port {port} in this container. If the service runs on the "
            "host (or in another container), localhost does not reach it from here.",
            [*(fix(text, command) for text, command in inside_container_advice(kind, port, proto)),
             fix("Or use the host's address on the container network (the default gateway).",
                 "ip route show default")],
            evidence={"in_container": kind, "evidence": ctx.facts.extras.get("in_container_evidence")},
        )


def _is_loopback_target(ctx: Context) -> bool:
    return ctx.target.host == "localhost" or all(is_loopback(a) for a in ctx.addresses)


def _targets_this_machine(ctx: Context) -> bool:
    """Some address is loopback, one of ours, or on one of our directly attached networks."""
    networks = []
    for iface in ctx.facts.interfaces:
        try:
            prefix = iface.prefixlen if iface.prefixlen is not None else (32 if iface.family == 4 else 128)
            networks.append(ipaddress.ip_interface(f"{iface.address.split('%')[0]}/{prefix}").network)
        except ValueError:
            continue
    for address in ctx.addresses:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            continue
        if ip.is_loopback or ip.is_unspecified or any(ip in net for net in networks if net.version == ip.version):
            return True
    return False


def _namespace_pid(ctx: Context, label: str | None) -> int | None:
    for ns in ctx.facts.namespaces:
        if ns.label == label and ns.pids:
            return ns.pids[0]
    return None
