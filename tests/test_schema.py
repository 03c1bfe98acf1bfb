"""The JSON Schema (draft 2020-12) of the report: valid itself, and real reports match it."""

from __future__ import annotations

import copy
import json
import socket

import jsonschema
import pytest

from portdoctor.causes import CAUSES
from portdoctor.cli import main, schema_text
from portdoctor.render import render
from samples import HOSTILE, make_report


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_hand_built_single_and_multi_reports_validate(validator):
    validator.validate(json.loads(render([make_report(process=HOSTILE)], "json")))
    validator.validate(json.loads(render([make_report(), make_report("127.0.0.1:1", failed=False)], "json")))


def test_real_reports_validate(validator, free_port, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        open_port = s.getsockname()[1]
        main(["--report", "--format", "json", f"127.0.0.1:{free_port}"])
        validator.validate(json.loads(capsys.readouterr().out))
        main(["--report", "--format", "json", f"127.0.0.1:{free_port}", f"localhost:{open_port}", "udp://127.0.0.1:9"])
        doc = json.loads(capsys.readouterr().out)
    validator.validate(doc)
    assert len(doc["reports"]) == 3


def test_every_cause_name_fits_the_schema(validator):
    doc = json.loads(render([make_report()], "json"))
    for cause in CAUSES:
        doc["verdict"]["cause"] = cause
        validator.validate(doc)


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("verdict"),
    lambda d: d["target"].update(port=0),
    lambda d: d["probes"][0].update(outcome="closed"),
    lambda d: d["findings"][0].update(status="ok"),
    lambda d: d["listeners"][0].pop("namespace"),
    lambda d: d.update(schema="portdoctor/report/v2"),
    lambda d: d["verdict"].update(cause="Not Listening"),
    lambda d: d.update(created="yesterday"),
])
def test_the_schema_rejects_broken_reports(validator, breakage):
    doc = json.loads(render([make_report()], "json"))
    broken = copy.deepcopy(doc)
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_the_schema_rejects_an_empty_multi_report(validator):
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"schema": "portdoctor/report/v1", "reports": []})
