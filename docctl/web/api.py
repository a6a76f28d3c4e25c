"""JSON API ``/api/v1`` (CONTRACT §4), described by ``/api/v1/openapi.json``.

Authenticated by ``Authorization: Bearer <token>`` or by the site's session (with CSRF).
Every handler is a parse → one core call → JSON; errors go through web/errors.py.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from flask import Blueprint, Response, current_app, jsonify, request

from ..changes import STATES
from ..documents import validate_document_id
from ..errors import Invalid
from .audit import AUDIT_ROLES, trail_query
from .context import can_read, date_arg, instance, int_arg, json_body, reader, require_role, user, visible_change
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
def audit_events():
    require_role(*AUDIT_ROLES)
    query = trail_query(request.args)
    events, more = reader().audit_events(query)
    body = {"events": [e.as_json() for e in events], "complete": reader().audit_complete()}
    if more:
        body["next_page"] = query.page + 1
    return jsonify(body)


@bp.get("/audit/verify")
def audit_verify():
    require_role(*AUDIT_ROLES)
    return jsonify(reader().verification(run=True).as_json())


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/documents")
def documents():
    can_read()
    at = date_arg(request.args.get("as_of"), "as_of")
    doc_type, unit = request.args.get("type") or None, request.args.get("unit") or None
    obsolete = request.args.get("obsolete") == "1"
    # The same answer for everyone until main or the day changes: serialized once per key
    # (2,000 documents cost ~15 ms of JSON per request, issue 12/18).
    key = (reader().register_key(at), doc_type, unit, obsolete)
    cache: OrderedDict = current_app.extensions.setdefault("docctl.register_json", OrderedDict())
    with _JSON_LOCK:
        body = cache.get(key)
    if body is None:
        states = reader().master_list(at, doc_type=doc_type, unit=unit, include_obsolete=obsolete)
        body = json.dumps({"documents": [_state_json(s) for s in states]}, ensure_ascii=False).encode()
        with _JSON_LOCK:
            cache[key] = body
            while len(cache) > 32:
                cache.popitem(last=False)
    return Response(body, mimetype="application/json")


@bp.get("/documents/<doc_id>")
def document(doc_id: str):
    can_read()
    return jsonify(reader().document(validate_document_id(doc_id)).as_json())


@bp.get("/documents/<doc_id>/revisions")
def revisions(doc_id: str):
    can_read()
    _, revs = reader().history(validate_document_id(doc_id))
    return jsonify(revisions=[r.as_json() for r in revs])


@bp.get("/documents/<doc_id>/revisions/<number>")
def revision(doc_id: str, number: str):
    can_read()
    page = reader().revision(validate_document_id(doc_id), int_arg(number, "revision"))
    return jsonify({**page.as_json(), "current": page.is_current})


@bp.get("/documents/<doc_id>/diff")
def diff(doc_id: str):
    can_read()
    if "from" not in request.args or "to" not in request.args:
        raise Invalid("give both from and to revision numbers")
    return jsonify(
        reader().diff(
            validate_document_id(doc_id), int_arg(request.args["from"], "from"), int_arg(request.args["to"], "to")
        )
    )


@bp.post("/documents/<doc_id>/withdraw")
def withdraw(doc_id: str):
    body = json_body()
    change = instance().workflow.withdraw(user(), validate_document_id(doc_id), reason=str(body.get("reason", "")))
    return jsonify(change.as_json()), 201


@bp.post("/documents/<doc_id>/review")
def review(doc_id: str):
    body = json_body()
    commit = instance().workflow.review(
        user(),
        validate_document_id(doc_id),
        password=str(body.get("password", "")),
        comment=str(body.get("comment", "")),
    )
    return jsonify(document_id=doc_id, commit=commit, review_due=reader().document(doc_id).state.review_due.isoformat())


@bp.post("/documents/<doc_id>/acknowledge")
def acknowledge(doc_id: str):
    person = user()
    page = reader().document(validate_document_id(doc_id))
    if not page.is_current:
        raise Invalid(f"{doc_id} has no revision in force to confirm")
    ack = instance().acks.record(person.login, doc_id, page.revision.revision)
    return jsonify(document_id=doc_id, revision=ack.revision, login=ack.login, at=ack.at.isoformat())


@bp.get("/documents/<doc_id>/acknowledgements")
def acknowledgements(doc_id: str):
    report = reader().confirmations(user(), validate_document_id(doc_id), request.args.get("unit") or None)
    return jsonify(report.as_json())


@bp.get("/changes")
def changes():
    user()
    state = request.args.get("state") or None
    if state and state not in STATES:
        raise Invalid(f"unknown state {state!r}")
    return jsonify(changes=[c.as_json() for c in reader().changes(user()._get_current_object(), state)])


@bp.post("/changes")
def create_change():
    body = json_body()
    months = body.get("review_months")
    change = instance().workflow.create(
        user(),
        doc_id=_opt_str(body, "document_id"),
        markdown=_str(body, "markdown"),
        reason=_str(body, "reason"),
        title=_opt_str(body, "title"),
        doc_type=_opt_str(body, "type"),
        unit=_opt_str(body, "unit"),
        review_months=int_arg(months, "review_months") if months is not None else None,
        effective_date=date_arg(body.get("effective_date"), "effective_date"),
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


@bp.get("/changes/<number>")
def get_change(number: str):
    return jsonify(instance().workflow.get(visible_change(number)).as_json())


@bp.put("/changes/<number>")
def edit_change(number: str):
    workflow, person, n = instance().workflow, user(), visible_change(number)
    body = json_body()
    if body.get("onto_revision") is not None:  # the resolution of an update's merge conflict
        change = workflow.update_to_current(
            person,
            n,
            resolved_markdown=_str(body, "markdown"),
            expected_head=_str(body, "head"),
            onto_revision=int_arg(body["onto_revision"], "onto_revision"),
        )
    else:
        change = workflow.edit(
            person,
            n,
            markdown=_str(body, "markdown"),
            expected_head=_str(body, "head"),
            reason=_opt_str(body, "reason"),
            title=_opt_str(body, "title"),
        )
    return jsonify(head=change.head, state=change.state)


@bp.post("/changes/<number>/<verb>")
def change_action(number: str, verb: str):
    workflow, person, n = instance().workflow, user(), visible_change(number)
    body = json_body() if request.data else {}
    if verb == "submit":
        change = workflow.submit(person, n)
    elif verb == "cancel":
        change = workflow.cancel(person, n, str(body.get("comment", "")))
    elif verb == "update":
        change = workflow.update_to_current(person, n)
    elif verb == "approve":
        change = workflow.approve(
            person,
            n,
            password=_str(body, "password"),
            comment=str(body.get("comment", "")),
            meaning=_opt_str(body, "meaning"),
        )
    elif verb == "reject":
        change = workflow.reject(person, n, password=_str(body, "password"), comment=str(body.get("comment", "")))
    else:
        from ..errors import NotFound

        raise NotFound(f"no action {verb!r}")
    answer = {"number": change.number, "state": change.state, "head": change.head}
    if change.state == "released" and change.kind != "withdraw":
        answer["revision"] = change.base_revision + 1
    return jsonify(answer)


@bp.get("/reviews")
def reviews():
    user()
    today = instance().today()
    states = reader().reviews_due(unit=request.args.get("unit") or None)
    return jsonify(
        reviews=[
            {**_state_json(s), "last_review": s.last_review.isoformat(), "overdue": s.review_due < today}
            for s in states
        ]
    )


@bp.get("/search")
def search():
    results = run_search(request.args)
    return jsonify(
        total=results.total,
        page=results.page,
        per_page=results.per_page,
        suggestion=results.suggestion,
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


def _str(body: dict, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise Invalid(f"'{key}' is required and must be a string")
    return value


def _opt_str(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid(f"'{key}' must be a string")
    return value
