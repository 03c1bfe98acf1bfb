"""Making machine-sourced text safe to show: :func:`clean_text` and :func:`clean_mapping`.

Everything portdoctor reads from the machine is chosen by someone else: process names
and command lines, user names, firewall rule comments, DNS names, namespace and
container labels, remote output, plugin output. A command line can hold an OSC 52
sequence (the terminal's clipboard), ``ESC[2J`` (clear the screen), a bidi override
that makes ``evil`` read as ``live``, or a newline followed by ``::error::`` (a GitHub
Actions workflow command). Such text is cleaned ONCE, where it enters (the facts layer,
the pipeline for plugin findings), so no renderer, terminal, CI runner or file ever sees
a raw control character.

What is made visible, as a backslash escape (``ESC`` -> ``\\x1b``, U+202E -> ``\\u202e``):

- C0 controls (U+0000-U+001F, newline and tab included), DEL, C1 controls (U+0080-U+009F);
- bidi controls: U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069;
- line and paragraph separators U+2028, U+2029;
- lone surrogates (undecodable bytes kept by ``surrogateescape``).

The work is one linear pass over a single character class (no backtracking), and the
function is idempotent: cleaning clean text changes nothing.
"""

from __future__ import annotations

import re

from portdoctor.lazyre import lazy

TYPE_CHECKING = False  # typing is never imported at run time
if TYPE_CHECKING:
    from typing import Any

# One character class: linear time whatever the input.
_UNSAFE = lazy("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_EXCEPT_NEWLINE = lazy("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")

TRUNCATED = "…"


def _visible(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_text(text: Any, *, keep_newlines: bool = False, limit: int | None = None) -> Any:
    """``text`` with every control, bidi and separator character made visible.

    ``keep_newlines`` keeps ``\\n`` (for multi-line text that portdoctor itself composed,
    never for a single machine-sourced field); ``limit`` keeps at most that many
    characters of the input, marking a cut with ``…``. ``None`` and non-strings are
    returned unchanged, so optional fields can be passed straight through.
    """
    if not isinstance(text, str):
        return text
    if limit is not None and len(text) > limit:
        text = text[:limit] + TRUNCATED
    if text.isprintable():  # the usual case, answered without the pattern (every character it
        return text  # replaces is one str.isprintable() refuses: a test walks them all)
    pattern = _UNSAFE_EXCEPT_NEWLINE if keep_newlines else _UNSAFE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_visible, text)


def is_clean(text: str, *, keep_newlines: bool = False) -> bool:
    """Does ``text`` hold nothing :func:`clean_text` would change (no length limit)?"""
    if text.isprintable():
        return True
    pattern = _UNSAFE_EXCEPT_NEWLINE if keep_newlines else _UNSAFE
    return pattern.search(text) is None


def clean_mapping(value: Any, *, depth: int = 8) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string cleaned.

    For evidence and other structured data of unknown origin: keys and values are
    cleaned; anything deeper than ``depth`` levels, or not a JSON type, becomes its
    cleaned ``repr`` (bounded), so the result always serialises.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if depth <= 0:
        return clean_text(repr(value), limit=200)
    if isinstance(value, dict):
        return {str(clean_text(str(k))): clean_mapping(v, depth=depth - 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_mapping(v, depth=depth - 1) for v in value]
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not break the report
        shown = f"<{type(value).__name__}>"
    return clean_text(shown, limit=200)
