"""Auditors' pages: the audit trail with its CSV export, and the verification report.

For auditors, quality managers and administrators (CONTRACT §4 ``/audit``); everyone else 403.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

from flask import Blueprint, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import login_required

from ..core.documents import validate_document_id
from ..core.errors import Invalid
from ..derived.audit_trail import ACTIONS, TrailQuery
from .context import date_arg, instance, int_arg, reader, require_role, user
from .csv_export import confirmation_rows, csv_response, header, in_polish
from .i18n import trail_detail

bp = Blueprint("audit", __name__)
AUDIT_ROLES = ("auditor", "quality_manager", "admin")
CSV_COLUMNS = ("at", "action", "document_id", "revision", "change", "actor", "login", "unit", "commit", "detail")


def init_app(app) -> None:
    app.register_blueprint(bp)


def trail_query(args) -> TrailQuery:
    """The trail's filters from query arguments (shared by the page, the CSV and the API)."""
    document = (args.get("document") or "").strip().upper() or None
    action = args.get("action") or None
    if action and action not in ACTIONS:
        raise Invalid("unknown action %(action)s", action=repr(action))
    query = TrailQuery(
        since=date_arg(args.get("since"), "since"),
        until=date_arg(args.get("until"), "until"),
        document=validate_document_id(document) if document else None,
        unit=(args.get("unit") or "").strip() or None,
        actor=(args.get("actor") or "").strip()[:100] or None,
        action=action,
        page=max(1, int_arg(args.get("page") or 1, "page")),
    )
    return query


@bp.route("/audit")
@login_required
def index():
    require_role(*AUDIT_ROLES)
    query = trail_query(request.args)
    events, more = reader().audit_events(query)
    report = reader().verification(run=request.args.get("verify") == "1")
    filters = {k: v for k, v in request.args.items() if k not in ("page", "verify") and v}
    return render_template(
        "audit/index.html",
        events=events,
        more=more,
        query=query,
        filters=filters,
        report=report,
        actions=ACTIONS,
        complete=reader().audit_complete(),
    )


@bp.route("/audit/evidence.zip", methods=["POST"])
@login_required
def evidence():
    """The evidence package (issue 30) as a download: built into a temporary file, sent, removed."""
    require_role(*AUDIT_ROLES)
    as_of = date_arg(request.form.get("as_of"), "as_of")
    unit = request.form.get("unit") or None
    handle, name = tempfile.mkstemp(prefix="docctl-evidence-", suffix=".zip")
    os.close(handle)
    try:
        made = instance().evidence(Path(name), as_of=as_of, unit=unit)
        answer = send_file(
            name,
            mimetype="application/zip",
            as_attachment=True,
            download_name=f"docctl-evidence-{made.as_of.isoformat()}.zip",
        )
    except BaseException:
        os.unlink(name)
        raise
    answer.call_on_close(lambda: os.unlink(name))
    return answer


@bp.route("/audit/events.csv")
@login_required
def export():
    require_role(*AUDIT_ROLES)
    events = reader().audit_export(trail_query(request.args))
    return csv_response("docctl-audit-trail.csv", itertools.chain([header(CSV_COLUMNS)], _trail_rows(events)))


def _trail_rows(events):
    """The trail's rows for people: the action and the details in the reader's language (the
    codes stay in the JSON API; in English the file keeps them, as before)."""
    translate = in_polish()
    for event in events:
        row = event.as_json()
        if translate:
            row["action"] = _(event.action.replace("_", " "))
            row["detail"] = trail_detail(event.detail)
        yield [row[c] for c in CSV_COLUMNS]


@bp.route("/acknowledgements")
@login_required
def confirmations():
    """Read confirmations of every document in force of one unit (``?unit=``; CSV with ``format=csv``)."""
    unit = (request.args.get("unit") or "").strip()
    if not unit:
        person = user()
        units = sorted(person.units)
        unit = units[0] if units else ""
    if not unit:
        raise Invalid("choose a unit (?unit=CODE)")
    reports = reader().unit_confirmations(user(), unit)
    if request.args.get("format") == "csv":
        return csv_response(f"{unit}-confirmations.csv", confirmation_rows(reports))
    return render_template("documents/acknowledgements.html", reports=reports, unit=unit, doc_id=None)
