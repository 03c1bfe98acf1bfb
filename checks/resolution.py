"""Does the name resolve? The ``dns`` cause."""

from __future__ import annotations

from portdoctor.api import Check, Context, fix


class ResolutionCheck(Check):
    name = "resolution"
    title = "Does the name resolve?"
    order = 50

    def run(self, ctx: Context):
        host = ctx.target.host
        if ctx.resolve_error:
            return self.fail(
                "dns",
                f"{host} does not resolve to any address.",
                ctx.resolve_error,
                [
                    fix("Check the spelling of the host name, or use an IP address.", None),
                    fix("Ask the resolver what it knows about the name.", f"getent ahosts {host}"),
                    fix("If it is a container or compose service name, it only resolves inside that network.",
                        None),
                ],
                resolver_order=[],
            )
        if len(ctx.addresses) == 1 and ctx.addresses[0] == host:
            return self.passed(f"{host} is an address; nothing to resolve.", resolver_order=ctx.addresses)
        return self.passed(
            f"{host} resolves to {', '.join(ctx.addresses)} (in that order).",
            "Clients usually try the addresses in this order.",
            resolver_order=ctx.addresses,
        )
