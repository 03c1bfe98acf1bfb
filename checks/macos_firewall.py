"""macOS firewalls: the ``macos-firewall`` check.

pf block rules naming the port (``firewall``) and the application firewall's state
(block-all stops other machines, never loopback). Applies on macOS only.
"""

from __future__ import annotations

import ipaddress

from portdoctor.api import MACOS_FIREWALL, Check, Context, Finding, fix


class MacosFirewallCheck(Check):
    name = "macos-firewall"
    title = "Do pf or the macOS application firewall block this port?"
    order = 270

    def applies(self, ctx: Context) -> bool:
        return ctx.facts.os == "darwin"

    def run(self, ctx: Context) -> Finding:
        from portdoctor.api import pf_rules_naming_port

        port = ctx.target.port
        fw = ctx.fact(MACOS_FIREWALL)
        if fw is None:
            return self.skip("The macOS firewall state could not be read.", how="See pf's rules.",
                             command="sudo pfctl -sr")
        if fw.pf_rules is not None:
            blocks = pf_rules_naming_port(fw.pf_rules, port)
            if blocks:
                return self.fail(
                    "firewall", f"A pf rule blocks port {port}: {blocks[0]}",
                    "pf evaluates every rule; the last matching rule wins unless a rule says quick.",
                    [fix("See the rules with their counters.", "sudo pfctl -vsr"),
                     fix("Remove the rule from /etc/pf.conf (or its anchor) and reload.", "sudo pfctl -f /etc/pf.conf")],
                    evidence={"rules": blocks},
                )
        alf = fw.alf
        remote = any(not _loopback(a) for a in ctx.addresses)
        if alf and alf.enabled and alf.block_all and remote and ctx.listeners(own_namespace=False):
            return self.warn(
                "The application firewall blocks all incoming connections: other machines cannot reach "
                "services on this Mac.",
                "Block-all mode ignores the allowed-apps list. Loopback connections are not affected.",
                [fix("Turn block-all off.", f"sudo {_SFW} --setblockall off"),
                 fix("Then allow the server program.", f"sudo {_SFW} --add /PATH/TO/SERVER")],
            )
        seen = []
        if alf and alf.enabled is not None:
            seen.append(f"application firewall {'on' if alf.enabled else 'off'}"
                        + (", block-all on" if alf.block_all else ""))
        if fw.pf_rules is None:
            return self.skip(
                f"pf rules could not be read ({fw.pf_error})" + (f"; {seen[0]}" if seen else "") + ".",
                how="pfctl needs root.", command="sudo pfctl -sr")
        return self.passed(f"No pf rule blocks port {port}" + (f"; {seen[0]}" if seen else "") + ".")


_SFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
