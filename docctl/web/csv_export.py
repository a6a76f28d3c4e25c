"""CSV files for auditors and paper files: safe cells, one shape for every export.

These downloads are meant for people, who open them in a spreadsheet: the header row and the
words in the cells (actions, yes/no) are in the reader's interface language (issue 32), and a
Polish file starts with a byte-order mark so that Excel shows "ą" and "ż" rather than mojibake.
In English the header is the stable column code, as before; scripts read the JSON API or
``docctl export``, whose columns the contract fixes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response, stream_with_context
from flask_babel import get_locale
from flask_babel import gettext as _

from ..translations import N_

# column code -> its header for people (the English "translation" is the code itself)
HEADERS = {
    "at": N_("csv:at"),
    "action": N_("csv:action"),
    "document_id": N_("csv:document_id"),
    "revision": N_("csv:revision"),
    "change": N_("csv:change"),
    "actor": N_("csv:actor"),
    "login": N_("csv:login"),
    "name": N_("csv:name"),
    "unit": N_("csv:unit"),
    "commit": N_("csv:commit"),
    "detail": N_("csv:detail"),
    "confirmed": N_("csv:confirmed"),
    "confirmed_at": N_("csv:confirmed_at"),
}


def header(columns: Iterable[str]) -> tuple[str, ...]:
    """The header row in the reader's language; a code without a label stays as it is."""
    return tuple(_people_word(HEADERS[c]) if c in HEADERS else c for c in columns)


def _people_word(message: str) -> str:
    translated = _(message)
    return translated.removeprefix("csv:")


def in_polish() -> bool:
    return str(get_locale() or "en") == "pl"


def csv_response(filename: str, rows: Iterable[Iterable]) -> Response:
    """Stream ``rows`` (the first is the header) as a CSV download."""
    mark = "\ufeff" if in_polish() else ""

    def chunks():
        buffer = io.StringIO()
        buffer.write(mark)
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


CONFIRMATION_COLUMNS = ("document_id", "revision", "login", "name", "unit", "confirmed", "confirmed_at")


def confirmation_rows(reports) -> Iterable[tuple]:
    yield header(CONFIRMATION_COLUMNS)
    yes, no = _("yes"), _("no")
    for report in reports:
        for c in report.confirmed:
            yield (report.state.doc_id, report.revision, c.login, c.name, c.unit, yes, c.at.isoformat())
        for m in report.missing:
            yield (report.state.doc_id, report.revision, m.login, m.name, m.unit, no, "")
