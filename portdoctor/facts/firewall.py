"""Firewall rules. (Placeholder: to be written.)"""


def gather_firewall(snap) -> None:
    snap.visibility["firewall"] = "not implemented yet"
