"""Platform traps: problems that exist on one platform only, each checked where it applies.

- ``wsl-localhost``: WSL2 in NAT mode forwards Windows' ``localhost`` only to Linux
  listeners on IPv4 ``127.0.0.1`` or ``0.0.0.0``; a server on ``::1`` or one
  interface address works inside WSL but not from Windows (``wrong-interface``, warn).
- ``windows-excluded-ports``: Windows reserves port ranges (Hyper-V, WSL2, Docker,
  WinNAT); binding inside them fails with WSAEACCES 10013 while nothing listens
  (``port-in-use``: the port cannot be bound).
- ``selinux-port-label``: SELinux lets a confined service bind only ports labelled
  with its type; an AVC ``name_bind`` denial for the port, or a port label that does
  not match the expected service's type, is ``port-in-use`` (cannot be bound).
- ``macos-firewall``: pf block rules naming the port (``firewall``) and the
  application firewall's state (block-all stops other machines, never loopback).

Each check's ``applies()`` leaves it out where its platform is absent (not WSL2,
not Windows, no SELinux, not macOS), so reports elsewhere stay quiet; ``portdoctor
checks`` still lists them.
"""

from __future__ import annotations

import ipaddress

from portdoctor.api import (
    MACOS_FIREWALL,
    SELINUX_MODE,
    WELL_KNOWN,
    WSL,
    Check,
    Context,
    excluded_ports,
    fix,
    pf_rules_naming_port,
    port_types,
    selinux_port,
)

# --- WSL2 ----------------------------------------------------------------------------


def _forwarded_by_wsl_nat(address: str, v6only: bool | None) -> bool:
    """Does WSL2's NAT-mode localhost forwarding reach a listener bound to this address?"""
    if address in ("0.0.0.0", "127.0.0.1", "*", ""):
        return True
    # A dual-stack "::" socket also accepts IPv4 connections to 127.0.0.1.
    return address == "::" and v6only is False


class WslLocalhostCheck(Check):
    name = "wsl-localhost"
    title = "Can Windows reach this WSL2 listener through localhost?"
    order = 260

    def applies(self, ctx: Context) -> bool:
        if ctx.facts.os != "linux" or ctx.target.protocol != "tcp":
            return False
        wsl = ctx.fact(WSL)
        return wsl is not None and wsl.version == 2

    def run(self, ctx: Context):
        wsl = ctx.fact(WSL)
        port = ctx.target.port
        if wsl.networking_mode == "mirrored":
            return self.passed("WSL2 uses mirrored networking: Windows and Linux share localhost.",
                               f"Networking mode read from {wsl.mode_source}.", evidence={"wsl_mode": "mirrored"})
        listeners = ctx.listeners()
        if not listeners:
            return self.passed(f"Nothing listens on port {port} inside WSL; nothing for Windows to reach yet.",
                               evidence={"wsl_mode": wsl.networking_mode or "nat"})
        forwarded = [s for s in listeners if _forwarded_by_wsl_nat(s.address, s.v6only)]
        assumed = "" if wsl.mode_source else " (NAT mode assumed: .wslconfig was not readable)"
        if forwarded:
            return self.passed(f"Port {port} listens on {forwarded[0].address}: WSL2 forwards it to "
                               f"Windows' localhost{assumed}.", evidence={"wsl_mode": wsl.networking_mode or "nat"})
        bound = ", ".join(sorted({s.address for s in listeners}))
        return self.warn(
            f"Port {port} listens only on {bound}: Windows programs cannot reach it through localhost.",
            "WSL2 in NAT mode forwards Windows' localhost only to Linux listeners on IPv4 127.0.0.1 or "
            f"0.0.0.0{assumed}. Inside WSL the connection works; from a Windows browser it does not.",
            [fix("Make the server listen on 127.0.0.1 or 0.0.0.0 (e.g. --host 0.0.0.0).", None),
             fix("Or switch WSL2 to mirrored networking: add networkingMode=mirrored under [wsl2] in "
                 "%UserProfile%\\.wslconfig, then restart WSL (from Windows).", "wsl --shutdown")],
            cause="wrong-interface", evidence={"bound": bound, "wsl_mode": wsl.networking_mode or "nat", "osrelease": wsl.osrelease},
        )


# --- Windows excluded port ranges -------------------------------------------------


class WindowsExcludedPortsCheck(Check):
    name = "windows-excluded-ports"
    title = "Is the port inside a range Windows reserved?"
    order = 240

    def applies(self, ctx: Context) -> bool:
        return ctx.facts.os == "windows" and ctx.target.protocol in ("tcp", "udp")

    def run(self, ctx: Context):
        port = ctx.target.port
        protocol = ctx.target.protocol
        ranges = ctx.fact(excluded_ports(protocol))
        command = f"netsh int ipv4 show excludedportrange protocol={protocol}"
        if ranges is None:
            return self.skip("Could not read the excluded port ranges: "
                             f"{ctx.facts.visibility.get('excluded_ports', 'netsh failed')}.",
                             how="Run it yourself.", command=command)
        holding = [r for r in ranges if port in r]
        if not holding:
            return self.passed(f"Port {port} is outside every excluded {protocol.upper()} range "
                               f"({len(ranges)} ranges).", evidence={"ranges": [str(r) for r in ranges]})
        r = holding[0]
        if ctx.listeners(protocol=protocol, own_namespace=False):
            return self.passed(f"Port {port} is in the excluded range {r}, but a service is bound to it.",
                               evidence={"ranges": [str(r) for r in holding]})
        who = "an administrator (netsh add excludedportrange)" if r.administered else \
            "Windows for Hyper-V, WSL2, Docker Desktop or WinNAT"
        steps = [fix("Use a port outside the excluded ranges.", command)]
        if not r.administered:
            steps.append(fix("Restart WinNAT to release its dynamic reservations (as administrator), then "
                             "start your service before Hyper-V/WSL reserve the port again.",
                             "net stop winnat; net start winnat"))
            steps.append(fix("While the port is free, reserve it for yourself so it is not taken again.",
                             f"netsh int ipv4 add excludedportrange protocol={protocol} startport={port} "
                             "numberofports=1"))
        else:
            steps.append(fix("Remove the administered exclusion if it is no longer wanted.",
                             f"netsh int ipv4 delete excludedportrange protocol={protocol} "
                             f"startport={r.start} numberofports={r.end - r.start + 1}"))
        return self.fail(
            "port-in-use",
            f"Port {port} cannot be bound: it is inside the excluded range {r}, reserved by {who}.",
            "Binding a port in an excluded range fails with WSAEACCES (10013, 'An attempt was made to "
            "access a socket in a way forbidden by its access permissions') although nothing listens.",
            steps, evidence={"range": str(r), "administered": r.administered},
        )


# --- SELinux -------------------------------------------------------------------------

# Program (comm) -> the SELinux port type its domain may bind.
PORT_TYPE_OF_PROGRAM = {
    "nginx": "http_port_t", "httpd": "http_port_t", "apache2": "http_port_t", "lighttpd": "http_port_t",
    "postgres": "postgresql_port_t", "postmaster": "postgresql_port_t",
    "mysqld": "mysqld_port_t", "mariadbd": "mysqld_port_t",
    "redis-server": "redis_port_t", "mongod": "mongod_port_t", "memcached": "memcache_port_t",
    "sshd": "ssh_port_t", "named": "dns_port_t", "squid": "http_cache_port_t",
}
# SELinux domain -> port type, for denials of programs not in the table above.
PORT_TYPE_OF_DOMAIN = {"httpd_t": "http_port_t", "sshd_t": "ssh_port_t", "postgresql_t": "postgresql_port_t",
                       "mysqld_t": "mysqld_port_t", "redis_t": "redis_port_t", "mongod_t": "mongod_port_t",
                       "memcached_t": "memcache_port_t", "named_t": "dns_port_t", "squid_t": "http_cache_port_t"}


class SelinuxPortLabelCheck(Check):
    name = "selinux-port-label"
    title = "Does SELinux let the service bind this port?"
    order = 230
    timeout = 15.0  # semanage port -l takes a few seconds on a cold cache

    def applies(self, ctx: Context) -> bool:
        if ctx.facts.os != "linux" or ctx.target.protocol not in ("tcp", "udp"):
            return False
        return ctx.fact(SELINUX_MODE) is not None

    def run(self, ctx: Context):
        port, proto = ctx.target.port, ctx.target.protocol
        if ctx.fact(SELINUX_MODE) == "permissive":
            return self.passed("SELinux is permissive: it logs denials but does not block binds.",
                               evidence={"selinux": "permissive"})
        if ctx.listeners(protocol=proto, own_namespace=False):
            return self.passed(f"A service is bound to port {port}; SELinux did not stop it.", evidence={"selinux": "enforcing"})
        # Only now pay for semanage (seconds) and the audit log.
        se = ctx.fact(selinux_port(port))
        labels = port_types(se.port_table, port, proto) if se.port_table is not None else None
        label = labels[0] if labels else None

        denials = [d for d in se.denials or [] if not d.permissive]
        if denials:
            d = denials[-1]
            wanted = PORT_TYPE_OF_PROGRAM.get(d.comm) or PORT_TYPE_OF_DOMAIN.get(d.source_type)
            return self.fail(
                "port-in-use",
                f"SELinux denied {d.comm} binding port {port}: its domain {d.source_type} may not bind "
                f"{d.target_type}.",
                f"The audit log holds {len(denials)} AVC name_bind denial(s) for port {port}; the service "
                "cannot listen there until the port carries a type its domain may bind.",
                self._label_steps(port, proto, wanted, label) + [
                    fix("See the denial and why it happened.", "sudo ausearch -m AVC -ts recent | audit2why")],
                evidence={"denial": d.line, "port_label": label},
            )

        expected = self._expected_type(ctx)
        if se.port_table is None:
            return self.skip(f"SELinux is enforcing but the port labels could not be read ({se.semanage_error}).",
                             how="Install policycoreutils-python-utils and run as root.",
                             command=f"sudo semanage port -l | grep -w {port}")
        if expected and expected not in (labels or []):
            return self.warn(
                f"Port {port} is labelled {label or 'with no specific type'}, not {expected}: a confined "
                f"{ctx.options.expect or 'service'} cannot bind it while SELinux is enforcing.",
                "No denial was found in the audit log"
                + (f" ({se.audit_error})" if se.audit_error else "")
                + "; if the service fails to start with 'Permission denied', this is why.",
                self._label_steps(port, proto, expected, label),
                cause="port-in-use", evidence={"port_label": label, "expected_label": expected},
            )
        note = f" ({se.audit_error})" if se.audit_error else ""
        return self.passed(f"No SELinux name_bind denial for port {port}{note}; its label is {label or 'unset'}.",
                           evidence={"selinux": "enforcing", "port_label": label})

    def _expected_type(self, ctx: Context) -> str | None:
        if ctx.options.expect:
            return PORT_TYPE_OF_PROGRAM.get(ctx.options.expect)
        known = WELL_KNOWN.get(ctx.target.port)
        for program in known.processes if known else ():
            if program in PORT_TYPE_OF_PROGRAM:
                return PORT_TYPE_OF_PROGRAM[program]
        return None

    @staticmethod
    def _label_steps(port: int, proto: str, wanted: str | None, current: str | None):
        kind = wanted or "THE_SERVICE_port_t"
        # A port already defined by a policy module needs -m (modify) instead of -a (add).
        verb = "-m" if current and current not in ("unreserved_port_t", "reserved_port_t",
                                                     "hi_reserved_port_t", "ephemeral_port_t") else "-a"
        return [fix(f"Label the port with the service's type ({kind}).",
                    f"sudo semanage port {verb} -t {kind} -p {proto} {port}"),
                fix("See the current label.", f"sudo semanage port -l | grep -w {port}")]


# --- macOS ---------------------------------------------------------------------------


class MacosFirewallCheck(Check):
    name = "macos-firewall"
    title = "Do pf or the macOS application firewall block this port?"
    order = 270

    def applies(self, ctx: Context) -> bool:
        return ctx.facts.os == "darwin"

    def run(self, ctx: Context):
        port = ctx.target.port
        fw = ctx.fact(MACOS_FIREWALL)
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
