"""The OpenAPI 3 description of /api/v1 (a test checks it lists exactly the routes served)."""

from __future__ import annotations

from .. import __version__

_ERROR = {"$ref": "#/components/responses/Error"}


def _op(
    summary: str,
    *,
    body: dict | None = None,
    ok: str = "200",
    params: tuple[str, ...] = (),
    query: tuple[str, ...] = (),
    errors: tuple[str, ...] = ("401", "403", "404"),
) -> dict:
    op: dict = {
        "summary": summary,
        "responses": {ok: {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }
    for code in errors:
        op["responses"][code] = _ERROR
    parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    parameters += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in query]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {k: {"type": v} for k, v in body.items()}}
                }
            },
        }
        op["responses"].update({"400": _ERROR, "409": _ERROR, "413": _ERROR, "422": _ERROR})
    return op


def openapi_document() -> dict:
    doc_id, number = ("doc_id",), ("number",)
    paths = {
        "/documents": {"get": _op("Master list of documents in force", query=("type", "unit", "obsolete", "as_of"))},
        "/documents/{doc_id}": {"get": _op("The current revision", params=doc_id)},
        "/documents/{doc_id}/revisions": {"get": _op("Released revisions, newest first", params=doc_id)},
        "/documents/{doc_id}/revisions/{number}": {
            "get": _op("One revision, with current: bool", params=("doc_id", "number"))
        },
        "/documents/{doc_id}/diff": {"get": _op("Unified and redline diff", params=doc_id, query=("from", "to"))},
        "/documents/{doc_id}/withdraw": {
            "post": _op("Open a withdrawal change", params=doc_id, ok="201", body={"reason": "string"})
        },
        "/documents/{doc_id}/review": {
            "post": _op(
                "Record a periodic review (password again)",
                params=doc_id,
                body={"password": "string", "comment": "string"},
            )
        },
        "/documents/{doc_id}/acknowledge": {"post": _op("Confirm reading the current revision", params=doc_id)},
        "/documents/{doc_id}/acknowledgements": {
            "get": _op(
                "Who has and has not confirmed the revision in force (quality managers, auditors, approvers of the"
                " unit): {revision, confirmed: [{login, name, unit, at}], missing: [{login, name, unit}]}",
                params=doc_id,
                query=("unit",),
            )
        },
        "/changes": {
            "get": _op("Changes, optionally by state", query=("state",)),
            "post": _op(
                "Open a change",
                ok="201",
                body={
                    "document_id": "string",
                    "markdown": "string",
                    "reason": "string",
                    "title": "string",
                    "type": "string",
                    "unit": "string",
                    "effective_date": "string",
                    "review_months": "integer",
                },
            ),
        },
        "/changes/{number}": {
            "get": _op("One change with approvals and events", params=number),
            "put": _op(
                "Save the draft; 409 when head is stale. With onto_revision: save the resolution of an"
                " update's merge conflict (the text from the 409 merge_conflict detail, markers removed)",
                params=number,
                body={
                    "markdown": "string",
                    "head": "string",
                    "reason": "string",
                    "title": "string",
                    "onto_revision": "integer",
                },
            ),
        },
        "/changes/{number}/{verb}": {
            "post": _op(
                "submit | cancel | update (409 merge_conflict: detail.markdown has both sides marked, nothing"
                " recorded) | approve {password, comment?, meaning?} | reject {password, comment}",
                params=("number", "verb"),
                body={"password": "string", "comment": "string", "meaning": "string"},
            )
        },
        "/reviews": {"get": _op("Periodic reviews overdue or due soon, optionally for one unit", query=("unit",))},
        "/search": {"get": _op("Full-text search", query=("q", "scope", "type", "unit", "page", "obsolete"))},
        "/audit/events": {
            "get": _op(
                "Audit trail, newest first, 50 a page (auditors, quality managers, admins); next_page when more",
                query=("since", "until", "document", "unit", "actor", "action", "page"),
            )
        },
        "/audit/verify": {
            "get": _op(
                "Verification of the whole history from git: {ok, checked, problems: [{commit, document_id?, problem}]}"
            )
        },
        "/openapi.json": {"get": _op("This document", errors=())},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "docctl API",
            "version": __version__,
            "description": "Document control (ISO 9001 7.5). Authenticate with `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error": {
                                        "type": "object",
                                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                                    }
                                },
                            }
                        }
                    },
                }
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
