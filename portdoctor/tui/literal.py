"""Machine text shown literally inside the wizard's markup.

Process names, command lines, rule comments and whole saved reports come from the
machine: Textual must never read them as markup (a saved JSON report once crashed
the history screen with a ``MarkupError``). :func:`literal` escapes every ``[``,
where ``textual.markup.escape`` only escapes what looks like a tag today.
Widgets that show nothing but machine text use ``markup=False`` instead.
"""

from __future__ import annotations


def literal(text: object) -> str:
    """``text`` safe to put between markup tags: every ``[`` is escaped."""
    return str(text).replace("[", "\\[")
