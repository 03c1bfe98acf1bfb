"""The explain pages: one Markdown page per cause, shipped as package data.

``portdoctor explain CAUSE`` prints :func:`page`; the wizard's detail pane shows the
same text. Sections: What it means / Why it happens / How to confirm / How to fix
(Linux, macOS, Windows).
"""

from __future__ import annotations

from importlib import resources


def page(cause: str) -> str:
    """The page for a cause; raises KeyError for a cause without one."""
    path = resources.files("portdoctor.explain").joinpath("pages", f"{cause}.md")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(cause) from None


def has_page(cause: str) -> bool:
    return resources.files("portdoctor.explain").joinpath("pages", f"{cause}.md").is_file()
