"""A planned lead as each way in takes it: JSON, ADF XML, CSV rows, an AMQP body."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from forecourt_chaos.domain.plan import PlannedLead

CSV_COLUMNS = (
    "source_lead_id", "first_name", "last_name", "email", "phone", "make", "model", "year",
)  # fmt: skip
# The provider's lead id column makes each row idempotent: a file sent again (its upload cut
# short by a fault, say) is answered "resent" row by row instead of merged twice.
CSV_MAPPING: dict[str, Any] = {
    "columns": {
        "source_lead_id": "source_lead_id",
        "first_name": "first_name",
        "last_name": "last_name",
        "email": "email",
        "phone": "phone",
        "vehicle.make": "make",
        "vehicle.model": "model",
        "vehicle.year": "year",
    }
}


def json_body(lead: PlannedLead) -> bytes:
    return json.dumps(lead.fields).encode()


def adf_document(lead: PlannedLead) -> bytes:
    """One prospect; the Idempotency-Key header, not an <id>, makes it idempotent."""
    f = lead.fields
    v = f.get("vehicle") or {}

    def x(value: Any) -> str:
        return escape(str(value))

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n<adf><prospect>'
        f'<vehicle interest="buy" status="{x(v.get("condition", "new")).lower()}">'
        f"<year>{x(v.get('year', ''))}</year><make>{x(v.get('make', ''))}</make>"
        f"<model>{x(v.get('model', ''))}</model></vehicle>"
        "<customer><contact>"
        f'<name part="first">{x(f["first_name"])}</name>'
        f'<name part="last">{x(f["last_name"])}</name>'
        f"<email>{x(f['email'])}</email>"
        f'<phone type="voice">{x(f["phone"])}</phone>'
        f"</contact><comments>{x(f.get('comments', ''))}</comments></customer>"
        '<vendor><contact><name part="full">Forecourt chaos</name></contact></vendor>'
        "</prospect></adf>\n"
    ).encode()


def csv_file(leads: Sequence[PlannedLead]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for lead in leads:
        f = lead.fields
        v = f.get("vehicle") or {}
        person = (lead.key, f["first_name"], f["last_name"], f["email"], f["phone"])
        writer.writerow((*person, v.get("make", ""), v.get("model", ""), v.get("year", "")))
    return out.getvalue().encode()
