"""Machine-sourced text is cleaned where it enters: no control, ESC or bidi character
reaches a terminal, a CI log or a file, in any format."""

from __future__ import annotations

import json
import re

import pytest

from labkit import Listener
from portdoctor.api import Check
from portdoctor.model import Finding, Remediation, Status
from portdoctor.pipeline import clean_finding
from portdoctor.sanitize import clean_mapping, clean_text, is_clean

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # writes "rm -rf ~" to the terminal's clipboard
CLEAR = "\x1b[2J\x1b[H"
BIDI = "\u202egnp.exe\u202c"
C1_CSI = "\x9b31m"
HOSTILE = f"ok{OSC52}{CLEAR}{BIDI}{C1_CSI}\n::error::pwned\r\x00\u2066x\u2069\u2028"

# What must never appear raw in anything portdoctor writes (newline and tab are checked separately).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def test_clean_text_makes_every_control_visible():
    cleaned = clean_text(HOSTILE)
    assert is_clean(cleaned)
    assert "\n" not in cleaned and "\r" not in cleaned
    assert "\\x1b]52;c;" in cleaned and "\\x1b[2J" in cleaned and "\\u202e" in cleaned and "\\x9b" in cleaned
    assert "\\x0a::error::pwned" in cleaned  # the line never starts with the command
    assert clean_text(cleaned) == cleaned  # idempotent


def test_clean_text_keeps_ordinary_text_and_unicode():
    for text in ("python3 -m http.server 8080", "naïve café 東京 ✓", "C:\\path\\x", ""):
        assert clean_text(text) == text
    assert clean_text(None) is None
    assert clean_text("a\nb", keep_newlines=True) == "a\nb"
    assert clean_text("a\tb") == "a\\x09b"
    assert clean_text("x" * 10, limit=4) == "xxxx…"


def test_clean_text_is_linear_on_huge_input():
    text = ("\x1b[2J" + "a" * 50) * 20_000  # 1 MB
    assert is_clean(clean_text(text))


def test_lone_surrogates_are_made_visible():
    assert clean_text("a\udcffb") == "a\\udcffb"


def test_clean_mapping_cleans_keys_values_and_odd_objects():
    class Hostile:
        def __repr__(self):
            raise SystemError("no")

    value = {"k\x1b": ["v\x1b", {"n": 1, "b": True, "x": None}], "o": object(), "h": Hostile(), "s": {1, 2}}
    cleaned = clean_mapping(value)
    json.dumps(cleaned)
    assert "k\\x1b" in cleaned and cleaned["k\\x1b"][0] == "v\\x1b"
    assert cleaned["h"] == "<Hostile>"


def test_a_check_finding_is_cleaned_once_it_leaves_the_check():
    f = Finding("c", Status.FAIL, f"title {OSC52}", None, f"line one\nline two {CLEAR}",
                [Remediation(f"do {BIDI}", f"kill {C1_CSI}")], {"cmdline": HOSTILE})
    clean_finding(f)
    assert is_clean(f.title) and is_clean(f.detail, keep_newlines=True) and "\n" in f.detail
    assert is_clean(f.remediation[0].text) and is_clean(f.remediation[0].command)
    assert is_clean(f.evidence["cmdline"])


class _HostilePlugin(Check):
    name = "hostile"
    title = "Hostile?"

    def run(self, ctx):
        return self.fail("unknown", f"t{OSC52}", f"d{CLEAR}", evidence={"evidence_text": HOSTILE})


def test_plugin_output_is_cleaned_by_the_pipeline():
    from portdoctor.pipeline import run_check
    from portdoctor.plugins import LoadedCheck

    [f] = run_check(LoadedCheck(_HostilePlugin(), "file /x/hostile.py", "/x/hostile.py"), None)
    assert is_clean(f.title) and is_clean(f.detail) and is_clean(f.evidence["evidence_text"])


# --- end to end: a real listener with a hostile name and command line --------------


@pytest.mark.lab
@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "junit"])
def test_a_hostile_listener_cannot_steer_a_terminal_in_any_format(lab, fmt):
    listener = Listener("127.0.0.1", 8080, name="\x1b[2Jevil\u202e", extra_args=[HOSTILE.replace("\x00", "")])
    r = lab.run(["--report", "--format", fmt, "--expect", "postgres", "127.0.0.1:8080"], json_report=False,
                listeners=[listener], env={"FORCE_COLOR": ""})
    assert r.returncode == 1, r.stderr
    assert "x1b" in r.stdout  # the hostile name is shown, made visible
    assert not RAW.search(r.stdout), repr(RAW.search(r.stdout))
    assert not RAW.search(r.stderr)
    assert "\n::error::" not in r.stdout
    if fmt == "json":
        document = json.loads(r.stdout)
        [listener_seen] = document["listeners"]
        for value in (listener_seen["process"], listener_seen["cmdline"]):
            assert is_clean(value), value  # consumers of the JSON get clean text too


def test_every_character_the_pattern_replaces_is_one_isprintable_refuses():
    """clean_text answers printable text without its pattern: that is only right while no
    character the pattern replaces counts as printable."""
    from portdoctor.sanitize import _UNSAFE, _UNSAFE_EXCEPT_NEWLINE

    for pattern in (_UNSAFE, _UNSAFE_EXCEPT_NEWLINE):
        replaced = [c for c in map(chr, range(0x110000)) if pattern.search(c)]
        assert len(replaced) > 2000  # the surrogates alone are 2048
        assert not [c for c in replaced if c.isprintable()]
