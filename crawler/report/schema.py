"""report.json's JSON Schema, with its vocabulary filled from the model.

The file holds the shape; the list of problem kinds is crawler.model.Kind's, written into the
schema's one `kind` definition as it is loaded, so a new kind needs no edit here; so are the
card statuses (crawler.model.CARD_STATUSES), which summary.by_status names every one of.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crawler.model import CARD_STATUSES, Kind

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")


def report_schema() -> dict[str, Any]:
    """The schema report.json is written to, kinds included: validate reports against this."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["$defs"]["kind"]["enum"] = [kind.value for kind in Kind]
    schema["$defs"]["card_status"]["enum"] = list(CARD_STATUSES)
    summary = schema["properties"]["summary"]["properties"]
    summary["by_status"]["required"] = list(CARD_STATUSES)
    return schema
