"""The JSON report (the contract's ``portdoctor/report/v1``)."""

from __future__ import annotations

import json

from portdoctor.model import SCHEMA_ID, Report


def report_document(reports: list[Report]) -> dict:
    """One object for one target; ``{"schema", "reports": [...]}`` for several."""
    if len(reports) == 1:
        return reports[0].to_dict()
    return {"schema": SCHEMA_ID, "reports": [r.to_dict() for r in reports]}


def render_json(reports: list[Report]) -> str:
    return json.dumps(report_document(reports), indent=2, ensure_ascii=False) + "\n"
