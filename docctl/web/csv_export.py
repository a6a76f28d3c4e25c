"""CSV files for auditors and paper files: safe cells, one shape for every export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response, stream_with_context


def csv_response(filename: str, rows: Iterable[Iterable]) -> Response:
    """Stream ``rows`` (the first is the header) as a CSV download."""

    def chunks():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(chunks()),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


def safe_cell(value) -> str:
    """No spreadsheet formulas from recorded text (CSV injection): a leading = + - @ is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def confirmation_rows(reports) -> Iterable[tuple]:
    yield ("document_id", "revision", "login", "name", "unit", "confirmed", "confirmed_at")
    for report in reports:
        for c in report.confirmed:
            yield (report.state.doc_id, report.revision, c.login, c.name, c.unit, "yes", c.at.isoformat())
        for m in report.missing:
            yield (report.state.doc_id, report.revision, m.login, m.name, m.unit, "no", "")
