"""Would a proxy setting send this client's traffic elsewhere? The ``proxy`` cause.

``http_proxy``/``https_proxy``/``all_proxy`` (and upper-case forms) make curl, wget,
git, pip, npm and Python requests/httpx connect to the proxy instead of the target,
unless ``no_proxy`` covers the host. portdoctor's own probe connects directly, so a
target can look healthy here while ``curl`` fails. For http(s) targets the proxy
itself is probed once (bounded): a dead proxy is a failure, a live one a warning.
"""

from __future__ import annotations

from portdoctor.api import SCHEME_VARIABLES, Check, Context, Finding, fix, hostport, is_loopback

HTTP_SCHEMES = set(SCHEME_VARIABLES)


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    return is_loopback(host.strip("[]"))


def _url(ctx: Context) -> str:
    t = ctx.target
    return f"{t.scheme or 'http'}://{hostport(t.host, t.port)}/"


def _remediation(ctx: Context, variable: str, proxy_url: str) -> list:
    host = ctx.target.host
    if ctx.facts.os == "windows":
        return [
            fix("Exempt the host for this session (PowerShell).", f'$env:NO_PROXY = "$env:NO_PROXY,{host}"'),
            fix("…and for new sessions.", f'setx NO_PROXY "%NO_PROXY%,{host}"'),
            fix("Or bypass the proxy for one curl call.", f"curl.exe --noproxy '*' {_url(ctx)}"),
        ]
    return [
        fix("Exempt the host from the proxy (both spellings: clients differ).",
            f'export no_proxy="${{no_proxy:+$no_proxy,}}{host}" NO_PROXY="${{NO_PROXY:+$NO_PROXY,}}{host}"'),
        fix("Or bypass the proxy for one curl call.", f"curl --noproxy '*' {_url(ctx)}"),
        fix("Or run one command without any proxy variable.",
            "env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY COMMAND"),
        fix(f"See what the proxy does with the request ({variable}).", f"curl -v -x '{proxy_url}' {_url(ctx)}"),
        fix("Find where the variable is set.",
            f"grep -rn '{variable}' ~/.bashrc ~/.profile ~/.zshrc /etc/environment /etc/profile.d 2>/dev/null"),
    ]


class ProxyCheck(Check):
    name = "proxy"
    title = "Would a proxy setting send HTTP clients elsewhere?"
    order = 60
    timeout = 8.0  # includes one bounded connection to the proxy
    needs_addresses = False  # a proxied client never resolves the name itself: the proxy does

    def applies(self, ctx: Context) -> bool:
        return ctx.target.protocol == "tcp"

    def run(self, ctx: Context) -> Finding:
        from portdoctor.api import (
            HONOURED_BY,
            IGNORED_BY,
            effective_proxy,
            lazy_proxy_probe,
            no_proxy_match,
            no_proxy_value,
        )

        t = ctx.target
        scheme = (t.scheme or "").lower()
        if scheme and scheme not in HTTP_SCHEMES:
            return self.passed(f"{scheme}:// clients do not read http_proxy/https_proxy.",
                               "Proxy variables concern HTTP clients; database and raw-socket clients connect directly.")
        env = dict(ctx.environ)
        setting = effective_proxy(env, scheme or "http")
        if setting is None:
            return self.passed("No proxy variable is set for this kind of target.")
        no_proxy_var, no_proxy = no_proxy_value(env)
        entry = no_proxy_match(no_proxy, t.host, t.port)
        evidence: dict[str, object] = dict(variable=setting.variable, proxy=setting.url, no_proxy=no_proxy,
                                           no_proxy_variable=no_proxy_var)
        if entry is not None:
            return self.passed(f"{setting.variable} is set, but {no_proxy_var}={no_proxy!r} exempts {t.host} "
                               f"(entry {entry.strip()!r}).", evidence=evidence)

        why_not = (f"{no_proxy_var}={no_proxy!r} has no entry covering {t.host}"
                   + (" (names are compared as typed: 'localhost' and '127.0.0.1' are different entries)"
                      if _is_loopback(t.host) and no_proxy else "")
                   if no_proxy_var else "no_proxy/NO_PROXY is not set")
        base = (f"{setting.variable}={setting.url} sends requests for {t.host}:{t.port} to the proxy "
                f"{setting.host}:{setting.port}; {why_not}. Honoured by {HONOURED_BY}; ignored by {IGNORED_BY}. "
                f"{setting.note}").strip()
        fixes = _remediation(ctx, setting.variable, setting.url)

        if not scheme:
            return self.warn(
                f"If you reach {t.host}:{t.port} with an HTTP client, {setting.variable} routes it via "
                f"{setting.host}:{setting.port}.",
                base + " portdoctor itself connects directly, so the result below may differ from what curl sees.",
                fixes, cause="proxy", evidence=evidence)

        probe = lazy_proxy_probe(ctx.facts, setting.host, setting.port, min(ctx.options.timeout, 2.0))
        evidence["proxy_probe"] = None if probe is None else {"address": probe.address, "outcome": probe.outcome,
                                                              "error": probe.error}
        if probe is not None and probe.outcome != "open":
            state = {"refused": "refuses connections (nothing listens there)",
                     "timeout": "does not answer (timeout)",
                     "unreachable": "is unreachable from here",
                     "unresolved": "does not resolve"}.get(probe.outcome, f"fails ({probe.error})")
            return self.fail(
                "proxy",
                f"{setting.variable} points HTTP clients at {setting.host}:{setting.port}, which {state}.",
                base + f" The proxy probe: {probe.outcome}" + (f" ({probe.error})" if probe.error else "")
                + ". curl and the others fail before they ever reach the target.",
                fixes, evidence=evidence)
        if _is_loopback(t.host) and not _is_loopback(setting.host) and not ctx.facts.is_local(setting.host):
            return self.fail(
                "proxy",
                f"{setting.variable} sends requests for {t.host} to the proxy {setting.host}, "
                f"whose 'localhost' is itself, not this machine.",
                base + " A proxy on another machine cannot reach this machine's loopback address.",
                fixes, evidence=evidence)
        return self.warn(f"HTTP clients reach {t.host}:{t.port} through the proxy {setting.host}:{setting.port} "
                         f"({setting.variable}).", base, fixes, cause="proxy", evidence=evidence)
