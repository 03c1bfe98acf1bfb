"""The explain pages: one Markdown page per cause, shipped as package data.

``portdoctor explain CAUSE`` prints :func:`page`; the wizard's detail pane shows the
same text, or one part of it through :func:`sections`. Every page has the title line
``# CAUSE: summary`` and the sections What it means / Why it happens / How to confirm /
How to fix (with ``### Linux``, ``### macOS`` and ``### Windows`` subsections).
"""

from __future__ import annotations

from importlib import resources


def page(cause: str) -> str:
    """The page for a cause; raises KeyError for a cause without one."""
    path = resources.files("portdoctor.explain").joinpath("pages").joinpath(f"{cause}.md")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyError(cause) from None


def has_page(cause: str) -> bool:
    return resources.files("portdoctor.explain").joinpath("pages").joinpath(f"{cause}.md").is_file()


def sections(cause: str) -> dict[str, str]:
    """The page's ``## `` sections by title, in page order, without their headings."""
    parts: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in page(cause).splitlines():
        if line.startswith("## "):
            if current is not None:
                parts[current] = "\n".join(lines).strip()
            current, lines = line[3:].strip(), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        parts[current] = "\n".join(lines).strip()
    return parts
