"""WSL2's localhost forwarding: the ``wsl-localhost`` check.

In NAT mode WSL2 forwards Windows' ``localhost`` only to Linux listeners on IPv4
``127.0.0.1`` or ``0.0.0.0``; a server on ``::1`` or one interface address works inside
WSL but not from Windows (``wrong-interface``, warn). Applies inside WSL2 only.
"""

from __future__ import annotations

from portdoctor.api import (
    WSL,
    Check,
    Context,
    Finding,
    fix,
)


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

    def run(self, ctx: Context) -> Finding:
        wsl = ctx.fact(WSL)
        if wsl is None:
            return self.skip("WSL's networking mode could not be read.", how="See networkingMode in .wslconfig.",
                             command="cat /mnt/c/Users/$USER/.wslconfig")
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
