"""``/api/v1/openapi.json``, written from the app's URL map and the operations' own models.

Nothing here is hand-written per route: each API view carries its :class:`api_schema.Operation`
(summary, query and body models, status codes), the path parameters have one schema each, and
the models are the very ones that validate requests. Instance facts a static schema cannot know —
the policy's unit codes, whether reading is public — are filled in from the instance serving it.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter

from ..version import __version__
from .api_schema import PATH_PARAMETERS, UNIT_PATTERN, Operation

PREFIX = "/api/v1"
_REASONS = {
    400: "The body is not a JSON object (or not UTF-8)",
    401: "Not authenticated (no or a wrong token; a wrong signing password)",
    403: "Authenticated, but the caller's roles or units do not allow this",
    404: "No such document, revision or change (or one the caller may not see)",
    409: "The thing changed meanwhile or is in the wrong state for this (stale head, already released...)",
    413: "The request or the document is larger than the instance allows",
    429: "Too many wrong signing passwords: wait (the message says how long)",
    422: "A parameter or field breaks the rules below; error.detail.problems lists each",
    503: "The index of all revisions is still being built: retry, or search the current revisions",
}


def openapi_document(app, policy, *, public_read: bool = False) -> dict:
    paths: dict[str, dict] = {}
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        spec: Operation | None = getattr(app.view_functions.get(rule.endpoint), "api_operation", None)
        if spec is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(PREFIX))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                spec, rule.endpoint.rpartition(".")[2], _path_names(rule.rule), schemas, public_read
            )
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "docctl API",
            "version": __version__,
            "description": (
                "Document control (ISO 9001 7.5). Authenticate with `Authorization: Bearer <token>`"
                " (`docctl token create LOGIN`); a browser session works too, with its CSRF token on writes."
                " Every error is `{error: {code, message, detail?}}`."
            ),
        },
        "servers": [{"url": PREFIX}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }
    return _with_units(document, sorted(policy.units))


def _path_names(rule: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", rule)


def _operation(spec: Operation, operation_id: str, path_names: list[str], schemas: dict, public_read: bool) -> dict:
    op: dict[str, Any] = {"operationId": operation_id, "summary": spec.summary}
    codes = set(spec.refusals)
    if spec.public or (spec.reading and public_read):
        op["security"] = [] if spec.public else [{"bearer": []}, {}]
    else:
        op["security"] = [{"bearer": []}]
        codes.add(401)
    if spec.roles:
        codes.add(403)
        op["description"] = "Roles: " + ", ".join(spec.roles) + "."
    parameters = []
    for name in path_names:
        parameters.append(
            {"name": name, "in": "path", "required": True, "schema": TypeAdapter(PATH_PARAMETERS[name]).json_schema()}
        )
        codes |= {404, 422}
    if spec.query is not None:
        model = spec.query.model_json_schema(by_alias=True)
        for name, schema in model["properties"].items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in model.get("required", ()),
                    "schema": _not_null(_drop_titles(schema)),
                }
            )
        codes.add(422)
    if parameters:
        op["parameters"] = parameters
    if spec.body is not None:
        op["requestBody"] = {
            "required": not spec.optional_body,
            "content": {"application/json": {"schema": _model_ref(spec.body, schemas, mode="validation")}},
        }
        codes |= {400, 413, 422}
    if spec.file_body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {spec.file_body: {"schema": {"type": "string", "format": "binary"}}},
        }
        codes |= {400, 413, 422}
    if spec.answers != "application/json":
        answer = {"type": "string", "format": "binary"}
    else:
        answer = _model_ref(spec.answer, schemas, mode="serialization") if spec.answer else {"type": "object"}
    op["responses"] = {
        str(spec.ok): {"description": "OK", "content": {spec.answers: {"schema": answer}}},
        **{str(code): _error(code) for code in sorted(codes)},
    }
    return op


def _model_ref(model, schemas: dict, *, mode: str) -> dict:
    """A model's schema in components (its nested models beside it), referred to by name: a
    request body as it is validated, an answer as it is written."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}", mode=mode)
    schema = _drop_titles(schema)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _error(code: int) -> dict:
    return {
        "description": _REASONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable machine-readable name: invalid, conflict..."},
                "message": {"type": "string", "description": "what went wrong, for a person"},
                "detail": {"type": "object", "description": "e.g. problems: [...], merge_conflict text"},
            },
        }
    },
}


def _not_null(schema: dict) -> dict:
    """``X | None`` of an optional query argument is just X: a query string has no null."""
    branches = schema.get("anyOf")
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _drop_titles(schema):
    """Pydantic's generated ``title`` of every field only repeats its name; ``default: null`` marks
    a body field that may be absent (null itself is refused)."""
    if isinstance(schema, dict):
        return {
            k: _drop_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str)) and not (k == "default" and v is None)
        }
    if isinstance(schema, list):
        return [_drop_titles(v) for v in schema]
    return schema


def _with_units(node, units: list[str]):
    """Every unit-code field accepts exactly the units of this instance's policy."""
    if isinstance(node, dict):
        node = {k: _with_units(v, units) for k, v in node.items()}
        if node.get("pattern") == UNIT_PATTERN and units:
            node["enum"] = units
        return node
    if isinstance(node, list):
        return [_with_units(v, units) for v in node]
    return node
