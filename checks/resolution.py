"""Does the name resolve? The ``dns`` cause.

A name that does not exist, one with no usable address, and a resolver that did not
answer at all are told apart: they have different fixes.
"""

from __future__ import annotations

from portdoctor.api import NO_ADDRESS, RESOLVER_FAILED, Check, Context, Finding, fix


class ResolutionCheck(Check):
    name = "resolution"
    title = "Does the name resolve?"
    order = 50
    needs_addresses = False  # it is the check that explains why there are none

    def run(self, ctx: Context) -> Finding:
        host = ctx.target.host
        error = ctx.resolve_error
        if error:
            kind = ctx.resolve_kind
            ask = fix("Ask the resolver what it knows about the name.", f"getent ahosts {host}")
            if kind == RESOLVER_FAILED:
                return self.fail(
                    "dns",
                    f"{host} could not be resolved: the resolver did not answer.",
                    f"{error}. The name may well exist: the DNS server in /etc/resolv.conf is "
                    "unreachable, down, or too slow (no network, a VPN that went away, a broken "
                    "systemd-resolved).",
                    [
                        fix("See which DNS servers this machine asks.", "cat /etc/resolv.conf"),
                        fix("With systemd-resolved, see its state and servers.", "resolvectl status"),
                        ask,
                        fix("If the name is a container or compose service name, it only resolves inside "
                            "that network: run the client there.", None),
                    ],
                    evidence={"resolver_order": []},
                )
            if kind == NO_ADDRESS:
                return self.fail(
                    "dns",
                    f"{host} exists but has no IPv4 or IPv6 address.",
                    str(error),
                    [ask, fix("Check the name's A and AAAA records (or its /etc/hosts line).",
                              f"getent hosts {host}")],
                    evidence={"resolver_order": []},
                )
            return self.fail(
                "dns",
                f"{host} does not resolve to any address.",
                str(error),
                [
                    fix("Check the spelling of the host name, or use an IP address.", None),
                    ask,
                    fix("If it is a container or compose service name, it only resolves inside that network.",
                        None),
                ],
                evidence={"resolver_order": []},
            )
        if len(ctx.addresses) == 1 and ctx.addresses[0] == host:
            return self.passed(f"{host} is an address; nothing to resolve.", evidence={"resolver_order": ctx.addresses})
        return self.passed(
            f"{host} resolves to {', '.join(ctx.addresses)} (in that order).",
            "Clients usually try the addresses in this order.",
            evidence={"resolver_order": ctx.addresses},
        )
