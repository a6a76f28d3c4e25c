"""JSON API ``/api/v1`` (CONTRACT §4), described by ``/api/v1/openapi.json``.

Authenticated by ``Authorization: Bearer <token>`` or by the site's session (with CSRF).
Every handler is declared with :func:`api_schema.operation` (authentication, then the path, query
and body checked against the same models that write the OpenAPI document), then one core call →
JSON; errors go through web/errors.py.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, jsonify, stream_with_context

from ..core.errors import Conflict
from ..reading import paged
from . import api_answers as answers
from . import api_schema as schema
from .api_schema import operation
from .audit import AUDIT_ROLES, trail_query
from .context import instance, reader, user, visible_change
from .openapi import openapi_document
from .search import run_search

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_JSON_LOCK = threading.Lock()


def init_app(app) -> None:
    app.register_blueprint(bp)


def _state_json(state) -> dict:
    rev = state.shown
    data = _register_json(state, rev)
    if state.status == "obsolete":
        data["withdrawn"] = {"on": state.withdrawn_on.isoformat(), "reason": state.withdraw_reason}
    return data


def _register_json(state, rev) -> dict:
    return {
        **state.register_row(),
        "pending": (
            {"revision": state.pending.revision, "effective_date": state.pending.effective_date.isoformat()}
            if state.pending
            else None
        ),
    }


@bp.get("/audit/events")
@operation(
    "Audit trail, newest first, 50 a page (auditors, quality managers, admins); next_page when more",
    query=schema.AuditQuery,
    roles=AUDIT_ROLES,
    answer=answers.AuditEvents,
)
def audit_events(query: schema.AuditQuery):
    trail = trail_query(_args(query))
    events, more = reader().audit_events(trail)
    body = {"events": [e.as_json() for e in events], "complete": reader().audit_complete()}
    if more:
        body["next_page"] = trail.page + 1
    return jsonify(body)


@bp.get("/audit/verify")
@operation(
    "Verification of the whole history from git: {ok, checked, problems: [{commit, document_id?, problem}]}",
    roles=AUDIT_ROLES,
    answer=answers.Verification,
)
def audit_verify():
    return jsonify(reader().verification(run=True).as_json())


@bp.get("/openapi.json")
@operation("This document", public=True, answer=answers.OpenApiDocument)
def openapi():
    settings = instance().settings
    return jsonify(openapi_document(current_app, instance().workflow.policy(), public_read=settings["PUBLIC_READ"]))


@bp.get("/documents")
@operation(
    "Master list of documents in force (or as of a day)",
    query=schema.MasterListQuery,
    reading=True,
    answer=answers.MasterList,
)
def documents(query: schema.MasterListQuery):
    at, doc_type, unit, obsolete = query.as_of, query.type, query.unit, query.obsolete == "1"
    if query.page is not None:
        shown = paged(reader().master_list(at, doc_type=doc_type, unit=unit, include_obsolete=obsolete), query.page)
        rows = shown.rows if query.page == shown.page else []  # past the end: empty, as the changes' pages
        body = {"documents": [_state_json(s) for s in rows], "total": shown.total}
        if query.page < shown.pages:
            body["next_page"] = query.page + 1
        return jsonify(body)
    # The same answer for everyone until main or the day changes: serialized once per key
    # (2,000 documents cost ~15 ms of JSON per request, issue 12/18; 20,000 cost 480 ms), kept
    # within a byte budget per process. A register too large for the budget is streamed row by
    # row instead, so no request holds the whole answer in memory (issue 33).
    key = (reader().register_key(at), doc_type, unit, obsolete)
    cache: OrderedDict = current_app.extensions.setdefault("docctl.register_json", OrderedDict())
    with _JSON_LOCK:
        body = cache.get(key)
    if body is None:
        states = reader().master_list(at, doc_type=doc_type, unit=unit, include_obsolete=obsolete)
        if len(states) > STREAMED_ABOVE_ROWS:
            return Response(stream_with_context(_streamed_register(states)), mimetype="application/json")
        body = json.dumps({"documents": [_state_json(s) for s in states]}, ensure_ascii=False).encode()
        with _JSON_LOCK:
            cache[key] = body
            while len(cache) > 1 and (len(cache) > 32 or sum(map(len, cache.values())) > REGISTER_JSON_BYTES):
                cache.popitem(last=False)
    return Response(body, mimetype="application/json")


STREAMED_ABOVE_ROWS = 60_000  # ~15 MB of JSON: never kept, always streamed
REGISTER_JSON_BYTES = 48 << 20  # registers kept serialized, per server process


def _streamed_register(states):
    yield '{"documents": ['
    for start in range(0, len(states), 500):
        rows = ", ".join(json.dumps(_state_json(s), ensure_ascii=False) for s in states[start : start + 500])
        yield (", " if start else "") + rows
    yield "]}"


@bp.get("/documents/<doc_id>")
@operation(
    "The current revision (or, for an obsolete document, its last one, marked so)",
    reading=True,
    answer=answers.DocumentRevision,
)
def document(doc_id: str):
    return jsonify(reader().document(doc_id).as_json())


@bp.get("/documents/<doc_id>/revisions")
@operation("Released revisions, newest first", reading=True, answer=answers.Revisions)
def revisions(doc_id: str):
    _, revs = reader().history(doc_id)
    return jsonify(revisions=[r.as_json() for r in revs])


@bp.get("/documents/<doc_id>/revisions/<number>")
@operation("One revision, with current: bool", reading=True, answer=answers.OneRevision)
def revision(doc_id: str, number: int):
    page = reader().revision(doc_id, number)
    return jsonify({**page.as_json(), "current": page.is_current})


@bp.get("/documents/<doc_id>/diff")
@operation("Unified and redline diff between two revisions", query=schema.DiffQuery, reading=True, answer=answers.Diff)
def diff(doc_id: str, query: schema.DiffQuery):
    return jsonify(reader().diff(doc_id, query.from_, query.to))


@bp.post("/documents/<doc_id>/withdraw")
@operation("Open a withdrawal change", body=schema.Withdraw, ok=201, refusals=(403, 409), answer=answers.ChangeRecord)
def withdraw(doc_id: str, body: schema.Withdraw):
    change = instance().workflow.withdraw(user(), doc_id, reason=body.reason)
    return jsonify(change.as_json()), 201


@bp.post("/documents/<doc_id>/review")
@operation(
    "Record a periodic review, no change needed (password again: 401 when wrong)",
    body=schema.Review,
    refusals=(403, 409, 429),
    answer=answers.ReviewRecorded,
)
def review(doc_id: str, body: schema.Review):
    commit = instance().workflow.review(user(), doc_id, password=body.password, comment=body.comment)
    return jsonify(document_id=doc_id, commit=commit, review_due=reader().document(doc_id).state.review_due.isoformat())


@bp.post("/documents/<doc_id>/acknowledge")
@operation(
    "Confirm reading the revision in force (409 when none is in force)",
    body=schema.Empty,
    optional_body=True,
    refusals=(409,),
    answer=answers.Acknowledged,
)
def acknowledge(doc_id: str, body: schema.Empty):
    person = user()
    page = reader().document(doc_id)
    if not page.is_current:
        raise Conflict("%(doc_id)s has no revision in force to confirm", doc_id=doc_id)
    ack = instance().acks.record(person.login, doc_id, page.revision.revision)
    return jsonify(document_id=doc_id, revision=ack.revision, login=ack.login, at=ack.at.isoformat())


@bp.get("/documents/<doc_id>/acknowledgements")
@operation(
    "Who has and has not confirmed the revision in force (quality managers, auditors, approvers of the"
    " unit): {revision, confirmed: [{login, name, unit, at}], missing: [{login, name, unit}]}",
    query=schema.UnitQuery,
    refusals=(403, 409),
    answer=answers.Confirmations,
)
def acknowledgements(doc_id: str, query: schema.UnitQuery):
    return jsonify(reader().confirmations(user(), doc_id, query.unit).as_json())


@bp.get("/changes")
@operation(
    "Changes the caller may see, newest first, optionally in one state; with page, 50 a page and next_page when more",
    query=schema.ChangesQuery,
    answer=answers.ChangeList,
)
def changes(query: schema.ChangesQuery):
    if query.page is None:
        return jsonify(changes=[c.as_json() for c in reader().changes(user(), query.state)])
    found, more = reader().changes_page(user(), query.state, query.page)
    body = {"changes": [c.as_json() for c in found]}
    if more:
        body["next_page"] = query.page + 1
    return jsonify(body)


@bp.post("/changes")
@operation(
    "Open a change: a revision of document_id, or a new document (title, type, unit)",
    body=schema.NewChange,
    ok=201,
    refusals=(403, 404, 409, 413),
    answer=answers.ChangeRecord,
)
def create_change(body: schema.NewChange):
    change = instance().workflow.create(
        user(),
        doc_id=body.document_id,
        markdown=body.markdown,
        reason=body.reason,
        title=body.title,
        doc_type=body.type,
        unit=body.unit,
        review_months=body.review_months,
        effective_date=body.effective_date,
    )
    return jsonify(
        {
            **change.as_json(),
            "number": change.number,
            "state": change.state,
            "document_id": change.doc_id,
            "base_revision": change.base_revision,
            "head": change.head,
        }
    ), 201


# A change the caller may not see is 404 before anything else about the request (issue 15).
_SEEN = (("number", visible_change),)


@bp.get("/changes/<number>")
@operation(
    "One change with approvals and events, and its text: markdown (the whole file, to edit and PUT back"
    " with head) and html (rendered as the document page shows it); 404 unless the caller may see it",
    guards=_SEEN,
    answer=answers.ChangeWithText,
)
def get_change(number: int):
    return jsonify(reader().change_json(number))


@bp.put("/changes/<number>")
@operation(
    "Save the draft; 409 when head is stale. With onto_revision: save the resolution of an"
    " update's merge conflict (the text from the 409 merge_conflict detail, markers removed)",
    body=schema.EditChange,
    refusals=(403, 409, 413),
    guards=_SEEN,
    answer=answers.Edited,
)
def edit_change(number: int, body: schema.EditChange):
    workflow, person, n = instance().workflow, user(), number
    if body.onto_revision is not None:
        change = workflow.update_to_current(
            person, n, resolved_markdown=body.markdown, expected_head=body.head, onto_revision=body.onto_revision
        )
    else:
        change = workflow.edit(
            person, n, markdown=body.markdown, expected_head=body.head, reason=body.reason, title=body.title
        )
    return jsonify(head=change.head, state=change.state)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@bp.get("/changes/<number>/docx")
@operation(
    "The change's text as a Word file, with the control header and the change record", guards=_SEEN, answers=DOCX
)
def change_docx(number: int):
    from ..adoption.word import change_to_docx

    data = change_to_docx(instance().workflow, instance().catalog, number)
    name = f"change-{number}.docx"
    return Response(data, mimetype=DOCX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.put("/changes/<number>/docx")
@operation(
    "An edited Word file (the request body) saved as the draft's text, mapped back paragraph by paragraph"
    " so that untouched paragraphs keep their lines; 409 when head is stale",
    query=schema.HeadQuery,
    refusals=(403, 409, 413),
    guards=_SEEN,
    file_body=DOCX,
    answer=answers.WordUploaded,
)
def put_change_docx(number: int, query: schema.HeadQuery):
    from flask import request

    from ..adoption.word import docx_to_change

    change, back = docx_to_change(instance().workflow, user(), number, request.get_data(), query.head)
    return jsonify(
        head=change.head, state=change.state, changed_paragraphs=back.changed_paragraphs, warnings=back.warnings
    )


_STEP = {"answer": answers.Step, "body": schema.Empty, "optional_body": True, "refusals": (403, 409), "guards": _SEEN}


@bp.post("/changes/<number>/submit")
@operation("Send a draft for review", **_STEP)
def submit(number: int, body: schema.Empty):
    return _step(instance().workflow.submit(user(), number))


@bp.post("/changes/<number>/update")
@operation(
    "Rebase the change onto the revision now in force (409 merge_conflict: detail.markdown has both sides"
    " marked, nothing recorded)",
    **_STEP,
)
def update(number: int, body: schema.Empty):
    return _step(instance().workflow.update_to_current(user(), number))


@bp.post("/changes/<number>/cancel")
@operation("Cancel the change (its author or a quality manager)", **{**_STEP, "body": schema.Cancel})
def cancel(number: int, body: schema.Cancel):
    return _step(instance().workflow.cancel(user(), number, body.comment))


@bp.post("/changes/<number>/approve")
@operation(
    "Sign the change (password again: 401 when wrong); the last signature needed releases it",
    body=schema.Approve,
    refusals=(403, 409, 429),
    guards=_SEEN,
)
def approve(number: int, body: schema.Approve):
    workflow = instance().workflow
    return _step(workflow.approve(user(), number, password=body.password, comment=body.comment, meaning=body.meaning))


@bp.post("/changes/<number>/reject")
@operation(
    "Send the change back to its author, saying why (password again)",
    body=schema.Reject,
    refusals=(403, 409, 429),
    guards=_SEEN,
)
def reject(number: int, body: schema.Reject):
    return _step(instance().workflow.reject(user(), number, password=body.password, comment=body.comment))


def _step(change):
    answer = {"number": change.number, "state": change.state, "head": change.head}
    if change.state == "released" and change.kind != "withdraw":
        answer["revision"] = change.base_revision + 1
    return jsonify(answer)


@bp.get("/reviews")
@operation(
    "Periodic reviews overdue or due soon, optionally for one unit", query=schema.UnitQuery, answer=answers.Reviews
)
def reviews(query: schema.UnitQuery):
    today = instance().today()
    states = reader().reviews_due(unit=query.unit)
    return jsonify(
        reviews=[
            {**_state_json(s), "last_review": s.last_review.isoformat(), "overdue": s.review_due < today}
            for s in states
        ]
    )


@bp.get("/search")
@operation(
    "Full-text search (Polish and English, inflected forms); scope current (default), all revisions, or the"
    " drafts the caller may see; 503 while the index of all revisions is being built",
    query=schema.SearchQuery,
    reading=True,
    refusals=(503,),
    answer=answers.SearchResults,
)
def search(query: schema.SearchQuery):
    results = run_search(_args(query))
    return jsonify(
        total=results.total,
        page=results.page,
        per_page=results.per_page,
        suggestion=results.suggestion,
        partial=results.partial,
        facets=results.facets,
        results=[
            {
                "id": h.doc_id,
                "title": h.title,
                "revision": h.revision,
                "snippet": h.snippet,
                "score": h.score,
                "type": h.type,
                "unit": h.unit,
                "status": h.status,
                "in_force": h.in_force,
                "obsolete": h.obsolete,
            }
            for h in results.hits
        ],
    )


def _args(query: schema.Query) -> dict:
    """A validated query as the page-side parsers read it (strings, absent when not given)."""
    return {k: str(v) for k, v in query.model_dump(by_alias=True).items() if v is not None}
