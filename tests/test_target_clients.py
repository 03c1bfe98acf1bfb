"""Target parsing reads hosts the way real clients do (issue 9, item 10)."""

from __future__ import annotations

import pytest

from labkit import Listener
from portdoctor.exitcodes import UsageError
from portdoctor.target import parse_target


def test_a_backslash_ends_the_authority_as_in_whatwg_parsers():
    t = parse_target("http://127.0.0.1\\@evil.example/")
    assert (t.host, t.port) == ("127.0.0.1", 80)  # never evil.example


@pytest.mark.parametrize("typed", ["127.1:8080", "0x7f.1:8080", "0177.0.0.1:8080", "2130706433:8080",
                                   "0x7f000001:8080", "127.0.0.1.:8080", "http://127.1:8080/"])
def test_numeric_ipv4_forms_are_read_like_inet_aton_and_shown_normalised(typed):
    t = parse_target(typed)
    assert (t.host, t.port) == ("127.0.0.1", 8080)
    assert t.display == "127.0.0.1:8080"


@pytest.mark.parametrize("typed", ["256.1:80", "1.2.3.4.5:80", "0x1g.1:80", "4294967296:80"])
def test_numeric_forms_out_of_range_are_usage_errors(typed):
    with pytest.raises(UsageError):
        parse_target(typed)


def test_an_idna_name_is_shown_as_what_the_resolver_is_asked():
    t = parse_target("http://ＥＸＡＭＰＬＥ.test/")
    assert t.host == "example.test" and t.input == "http://ＥＸＡＭＰＬＥ.test/"


@pytest.mark.lab
def test_end_to_end_the_typed_forms_probe_the_normalised_address(lab):
    # WHATWG: the backslash ends the authority, so ":8080" is path and the port is http's 80.
    r = lab.run(["127.1:8080", "http://127.0.0.1\\@evil.example:8080/"],
                listeners=[Listener("127.0.0.1", 8080), Listener("127.0.0.1", 80)])
    assert r.returncode == 0, r.stderr
    reports = r.json["reports"]
    assert [x["target"]["host"] for x in reports] == ["127.0.0.1", "127.0.0.1"]
    assert all(x["verdict"]["cause"] == "ok" for x in reports)
    assert "evil" not in "".join(str(x["target"]["addresses"]) + str(x["probes"]) for x in reports)
