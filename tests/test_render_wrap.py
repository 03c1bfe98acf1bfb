"""The text report's word wrap is textwrap.wrap with the report's settings, line for line."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from portdoctor.render.text import wrap_words

# Words, runs of spaces and tabs, the other whitespace textwrap turns into spaces,
# non-breaking and wide characters, and words longer than a line.
_PIECES = st.one_of(
    st.text(alphabet="abc-./:é漢", min_size=1, max_size=12),
    st.text(alphabet="x", min_size=70, max_size=200),
    st.text(alphabet=" \t", min_size=1, max_size=5),
    st.sampled_from(["\x0b", "\x0c", "\r", "\xa0", "\u2003", " \xa0 "]),
)


def _reference(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=True, break_on_hyphens=False)


@settings(max_examples=1500, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=30), width=st.integers(1, 100),
       first=st.sampled_from(["", "  ", "    ✘ ", " " * 9]), rest=st.sampled_from(["", "      ", " " * 12]))
def test_wrap_words_is_textwrap_wrap(pieces: list[str], width: int, first: str, rest: str) -> None:
    text = "".join(pieces)
    if len(first) >= width and text[:1].isspace():
        return  # textwrap never returns here (see the next test)
    assert wrap_words(text, width, first, rest) == _reference(text, width, first, rest)


def test_an_indent_wider_than_the_line_still_ends() -> None:
    """textwrap.wrap(" ", 80, initial_indent=" " * 90) loops forever; this returns."""
    assert wrap_words(" ", 80, " " * 90, "") == []
    assert wrap_words(" ab", 4, " " * 6, " " * 6) == ["      a", "      b"]


def test_examples_by_hand() -> None:
    assert wrap_words("one two three", 7) == ["one two", "three"]
    assert wrap_words("x" * 6, 4, "> ", "  ") == ["> xx", "  xx", "  xx"]
    assert wrap_words("   ", 10) == []
    assert wrap_words("a\tb", 80) == ["a       b"]
