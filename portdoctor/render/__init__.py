"""Renderers: every output format is a pure function of the report model.

``render(reports, fmt, color=False) -> str``. One report renders as one document;
several render as one combined document (JSON: ``{"schema", "reports": [...]}``).
"""

from __future__ import annotations

from collections.abc import Callable

from portdoctor.model import Report

# -o FILE picks the format from the extension when --format is absent.
EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
              ".json": "json", ".xml": "junit"}


def _renderer(fmt: str) -> Callable[..., str]:
    # Imported on demand: each renderer is only paid for when used.
    if fmt == "json":
        from portdoctor.render.json import render_json
        return render_json
    if fmt == "markdown":
        from portdoctor.render.markdown import render_markdown
        return render_markdown
    if fmt == "junit":
        from portdoctor.render.junit import render_junit
        return render_junit
    from portdoctor.render.text import render_text
    return render_text


def render(reports: list[Report], fmt: str = "text", *, color: bool = False, verbose: bool = False) -> str:
    """The document; whatever the format, nothing in it can act as a CI workflow command
    (:func:`portdoctor.render.github.defuse`), wherever it is later printed."""
    from portdoctor.render.github import defuse

    fn = _renderer(fmt)
    if fmt == "text":  # short unless verbose (-v); the other formats keep everything
        return defuse(fn(reports, color=color, verbose=verbose))
    return defuse(fn(reports), fmt)
