"""The renderers as pure functions of hand-built reports: text, Markdown, JUnit, JSON.

``make_report`` builds a Report the way the pipeline would, with listeners whose
owners are hidden, in another namespace, and named by a hostile process.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from portdoctor.model import Socket
from portdoctor.model import owner_label as model_owner_label
from portdoctor.render import render
from portdoctor.render.common import owner_label, printable
from portdoctor.render.junit import render_junit
from portdoctor.render.markdown import render_markdown
from portdoctor.render.text import render_text
from samples import HOSTILE, make_report

# --- text ---------------------------------------------------------------------------


def test_text_layout_has_every_part_and_fits_80_columns():
    text = render_text([make_report()], verbose=True)
    for line in text.splitlines():
        if not line.lstrip().startswith("$ "):  # commands are never wrapped, so they stay copyable
            assert len(line) <= 80, line
    assert "127.0.0.1:5432 (tcp)" in text
    assert "addresses  127.0.0.1" in text
    assert re.search(r"probes\s+127\.0\.0\.1\s+refused\s+0\.4 ms", text)
    assert "postgres (pid 812, user postgres)" in text
    assert "owner hidden (uid 0; run with sudo to see)" in text
    assert "dnsmasq (pid 77, user nobody), netns netns:4026532481 (docker:3f2a)" in " ".join(text.split())
    for mark in ("PASS  resolution", "FAIL  wrong-interface", "SKIP  firewall", "WARN  proxy", "ERROR broken-plugin"):
        assert mark in text
    assert "$ sudo portdoctor --report 127.0.0.1:5432" in text
    assert "plugin x.py: SyntaxError" in text
    # the verdict and the first thing to do are last
    tail = text.rstrip().splitlines()[-4:]
    assert tail[0].startswith("Verdict  WRONG-INTERFACE  postgres listens on 127.0.0.2")
    assert tail[1].startswith("Do now   Make the service listen on 127.0.0.1")
    assert tail[2].strip().startswith("$ sudo sed -i")
    assert "\x1b[" not in text  # no colour unless asked


def test_short_text_shows_what_did_not_pass_once_and_a_tally_of_what_did():
    report = make_report()
    short, full = render_text([report]), render_text([report], verbose=True)
    assert len(short.splitlines()) < len(full.splitlines())
    for line in short.splitlines():
        if not line.lstrip().startswith("$ "):
            assert len(line) <= 80, line
    tally = [line for line in short.splitlines() if line.startswith("  PASS")]
    assert len(tally) == 1 and "resolution" in tally[0]  # one tally line names what passed
    for mark in ("SKIP  firewall", "WARN  proxy", "ERROR broken-plugin"):
        assert mark in short
    # the verdict's own finding is not repeated above the verdict, and its first step is shown once
    assert "FAIL  wrong-interface" not in short
    assert short.count("Make the service listen on 127.0.0.1") == 1
    assert short.rstrip().splitlines()[-1].strip().startswith("(")


def test_the_pass_tally_stays_within_two_lines_and_verbose_lists_every_check():
    """A machine with an engine, Unix sockets and plugins passes many checks: the tally says
    how many and names them until the width, then "+N more"; -v shows each one."""
    from portdoctor.model import Finding, Status

    report = make_report()
    names = ["resolution", "proxy", "service-running", "protocol-mismatch", "other-namespace", "port-owner",
             "firewall", "backlog", "container", "published-ports", "privileged-port", "selinux",
             "well-known-service", "client-message", "unix-socket", "acme-corp-vpn-split-tunnel"]
    report.findings = [f for f in report.findings if f.status is not Status.PASS]
    report.findings += [Finding(n, Status.PASS, f"{n} is fine.") for n in names]
    short, full = render_text([report]), render_text([report], verbose=True)
    lines = short.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  PASS"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 8))
    tally = lines[start:end]
    assert len(tally) == 2 and all(len(line) <= 80 for line in tally), tally
    assert tally[0].startswith(f"  PASS  {len(names)} checks: resolution, proxy,")
    more = re.search(r", \+(\d+) more \(-v\)$", tally[1])
    assert more, tally
    shown = [n.strip(",") for n in " ".join(tally).split(": ", 1)[1].rsplit(", +", 1)[0].split()]
    assert shown == names[:len(shown)] and len(shown) + int(more.group(1)) == len(names)
    for n in names:  # -v: every check on its own line
        assert re.search(rf"^  PASS  {re.escape(n)}\s", full, re.M), n


def test_a_short_pass_tally_names_every_check_on_one_line():
    from portdoctor.render.text import pass_tally

    assert pass_tally(["resolution", "proxy", "resolution"]) == ["  PASS  2 checks: resolution, proxy"]
    assert pass_tally(["x" * 300]) == ["  PASS  1 check (-v lists them)"]


def test_text_colour_only_when_asked_and_plain_ansi():
    coloured = render_text([make_report()], color=True)
    assert "\x1b[1;31mWRONG-INTERFACE\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_text([make_report()])


def test_text_neutralises_control_characters_from_process_names():
    text = render_text([make_report(process=HOSTILE, cmdline="a\nb")])
    assert "\x1b" not in text
    assert "::error::pwn\\x1b[31m<b>|`" in text


def test_text_ok_report_has_no_do_now():
    text = render_text([make_report(failed=False)])
    assert "Verdict  OK" in text and "Do now" not in text


def test_text_several_targets_end_with_a_summary():
    text = render_text([make_report("127.0.0.1:5432"), make_report("127.0.0.1:6379", failed=False)])
    summary = text[text.index("Summary:"):]
    assert "1 of 2 targets failed" in summary
    assert re.search(r"FAIL\s+127\.0\.0\.1:5432\s+wrong-interface", summary)
    assert re.search(r"OK\s+127\.0\.0\.1:6379\s+ok", summary)


def test_owner_label_forms():
    # One wording for a socket's owner everywhere (portdoctor.model.owner_label); the
    # report adds how to see a hidden one.
    assert owner_label(Socket("tcp", 4, "0.0.0.0", 1, "LISTEN")) == "owner hidden (run with sudo to see)"
    assert owner_label(Socket("tcp", 4, "0.0.0.0", 1, "LISTEN", uid=0)) == "owner hidden (uid 0; run with sudo to see)"
    assert owner_label(Socket("tcp", 4, "0.0.0.0", 1, "LISTEN", pid=5, process="x", uid=3)) == "x (pid 5, uid 3)"
    assert model_owner_label(Socket("tcp", 4, "0.0.0.0", 1, "LISTEN", uid=0)) == "owner hidden (uid 0)"
    assert model_owner_label(Socket("tcp", 4, "::", 1, "LISTEN", pid=5, process="x", user="bob")) == "x (pid 5, user bob)"
    assert printable("a\nb\x07") == "a\\nb\\x07"


# --- markdown -----------------------------------------------------------------------


def test_markdown_has_heading_tables_and_commands():
    md = render_markdown([make_report()])
    assert md.startswith("## ❌ `127.0.0.1:5432`: `wrong-interface`")
    assert "| `127.0.0.1` | refused (Connection refused) | 0.4 ms |" in md
    assert "| ❌ fail | `wrong-interface` |" in md and "| ⏭️ skip | `firewall` |" in md
    assert "    ```sh\n    export no_proxy=127.0.0.1\n    ```" in md
    assert "owner hidden (uid 0; run with sudo to see)" in md


def test_markdown_escapes_untrusted_text():
    md = render_markdown([make_report(process=HOSTILE)])
    assert "<b>" not in md and "&lt;b&gt;" in md
    assert "\x1b" not in md
    # every table row still has its columns: the | in the process name is escaped
    for line in md.splitlines():
        if line.startswith(("| status", "| ✅", "| ❌")):
            assert len(re.findall(r"(?<!\\)\|", line)) == 4, line


def test_markdown_several_targets_start_with_an_overview():
    md = render_markdown([make_report("127.0.0.1:5432"), make_report("127.0.0.1:6379", failed=False)])
    assert md.startswith("## portdoctor: 1 of 2 targets failed")
    assert "### ❌ `127.0.0.1:5432`" in md and "### ✅ `127.0.0.1:6379`" in md


# --- junit --------------------------------------------------------------------------


def test_junit_one_suite_per_target_one_case_per_check():
    reports = [make_report("127.0.0.1:5432"), make_report("127.0.0.1:6379", failed=False)]
    root = ET.fromstring(render_junit(reports))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["portdoctor 127.0.0.1:5432", "portdoctor 127.0.0.1:6379"]
    names = [c.get("name") for c in root.iter("testcase")]
    assert len(names) == len(set(names)), "test case names must be unique across targets"

    first = {c.get("classname"): c for c in suites[0].findall("testcase")}
    assert set(first) == {"portdoctor.checks.resolution", "portdoctor.checks.wrong-interface",
                          "portdoctor.checks.firewall", "portdoctor.checks.proxy",
                          "portdoctor.checks.broken-plugin", "portdoctor.verdict"}
    assert first["portdoctor.checks.resolution"].get("name") == "resolution[127.0.0.1:5432]"
    assert list(first["portdoctor.checks.resolution"]) == []  # a pass has no child
    failure = first["portdoctor.checks.wrong-interface"].find("failure")
    assert failure.get("type") == "wrong-interface"
    assert "Connections to 127.0.0.1 are refused." in failure.text  # detail, line breaks kept
    assert "$ sudo sed -i" in failure.text  # remediation
    skipped = first["portdoctor.checks.firewall"].find("skipped")
    assert skipped.get("message") == "Cannot read the rules without root."
    assert first["portdoctor.checks.broken-plugin"].find("error") is not None
    assert first["portdoctor.verdict"].find("failure").get("type") == "wrong-interface"
    assert suites[0].get("failures") == "2" and suites[0].get("errors") == "1" and suites[0].get("skipped") == "1"
    assert suites[0].get("tests") == str(len(suites[0].findall("testcase")))
    assert suites[1].get("failures") == "0"
    assert suites[1].find("testcase[@classname='portdoctor.verdict']").find("failure") is None
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["cause"] == "wrong-interface" and props["port"] == "5432"
    assert root.get("tests") == str(sum(int(s.get("tests")) for s in suites))


def test_junit_is_valid_xml_with_any_process_name_and_no_line_starts_with_untrusted_text():
    nasty = "pg\x00\x01\x0b\ufffe\ud800]]><!--&\"'" + HOSTILE
    xml = render_junit([make_report(process=nasty)])
    root = ET.fromstring(xml)  # parses: forbidden characters were stripped
    failure = root.find(".//testcase[@classname='portdoctor.checks.wrong-interface']/failure")
    assert "pg]]><!--&\"'::error::pwn[31m<b>|`" in failure.get("message")
    for line in xml.splitlines():
        assert line.lstrip().startswith("<"), line


def test_json_keeps_the_contract_fields():
    doc = json.loads(render([make_report()], "json"))
    assert doc["schema"] == "portdoctor/report/v1"
    assert doc["listeners"][1]["pid"] is None and doc["listeners"][2]["namespace"] == "netns:4026532481"
    assert doc["findings"][1]["remediation"][0]["command"].startswith("sudo sed")
    multi = json.loads(render([make_report(), make_report("127.0.0.1:1")], "json"))
    assert multi["schema"] == "portdoctor/report/v1" and len(multi["reports"]) == 2
