"""SELinux port labels: the ``selinux-port-label`` check.

SELinux lets a confined service bind only ports labelled with its type; an AVC
``name_bind`` denial for the port, or a port label that does not match the expected
service's type, is ``port-in-use`` (cannot be bound). Applies where SELinux is enforcing.
"""

from __future__ import annotations

from portdoctor.api import SELINUX_MODE, Check, Context, Finding, Remediation, fix, selinux_port

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

    def run(self, ctx: Context) -> Finding:
        from portdoctor.api import port_types

        port, proto = ctx.target.port, ctx.target.protocol
        if ctx.fact(SELINUX_MODE) == "permissive":
            return self.passed("SELinux is permissive: it logs denials but does not block binds.",
                               evidence={"selinux": "permissive"})
        if ctx.listeners(protocol=proto, own_namespace=False):
            return self.passed(f"A service is bound to port {port}; SELinux did not stop it.", evidence={"selinux": "enforcing"})
        # Only now pay for semanage (seconds) and the audit log.
        se = ctx.fact(selinux_port(port))
        if se is None:
            return self.skip("SELinux's port labels could not be read.", how="List the port's labels.",
                             command=f"sudo semanage port -l | grep -w {port}")
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
        from portdoctor.api import WELL_KNOWN

        if ctx.options.expect:
            return PORT_TYPE_OF_PROGRAM.get(ctx.options.expect)
        known = WELL_KNOWN.get(ctx.target.port)
        for program in known.processes if known else ():
            if program in PORT_TYPE_OF_PROGRAM:
                return PORT_TYPE_OF_PROGRAM[program]
        return None

    @staticmethod
    def _label_steps(port: int, proto: str, wanted: str | None, current: str | None) -> list[Remediation]:
        kind = wanted or "THE_SERVICE_port_t"
        # A port already defined by a policy module needs -m (modify) instead of -a (add).
        verb = "-m" if current and current not in ("unreserved_port_t", "reserved_port_t",
                                                     "hi_reserved_port_t", "ephemeral_port_t") else "-a"
        return [fix(f"Label the port with the service's type ({kind}).",
                    f"sudo semanage port {verb} -t {kind} -p {proto} {port}"),
                fix("See the current label.", f"sudo semanage port -l | grep -w {port}")]
