"""The JSON API's request shapes: one set of pydantic models both validates every request and
writes ``/api/v1/openapi.json`` (issue 15), so the description can never be looser than the server.

A view declares its operation with :func:`operation`; the decorator checks authentication first
(401 before anything else, CSRF included), then the path parameters, the query string and the
JSON body against the models, and hands the view parsed values. :mod:`openapi` reads the same
declarations from the app's URL map.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from flask import request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ..core.changes import STATES
from ..core.documents import MAX_ID_LENGTH, TYPES
from ..core.errors import Invalid, Malformed
from ..derived.audit_trail import ACTIONS
from .context import can_read, instance, require_role, user

# -- shared field shapes (the same rules as core/documents.py and the workflow, as JSON Schema) ----------
DOC_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"
UNIT_PATTERN = r"^[A-Z][A-Z0-9]{1,7}$"
# Python's idea of a control character and of white space (what the core refuses and strips),
# spelt out: ECMA-262, Rust and Python disagree about \s.
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
BREAKS = r"\n\r\x85\u2028\u2029"
TEXT = rf"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"  # not blank, no control characters
ONE_LINE = rf"^[^{CONTROL}{BREAKS}]*[^{CONTROL}{SPACE}][^{CONTROL}{BREAKS}]*$"  # YAML's line breaks too
NO_CONTROL = rf"^[^{CONTROL}]*$"


def _iso_date(value):
    """Only YYYY-MM-DD (RFC 3339 full-date): no timestamps, no basic format, no times."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("give a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
DocId = Annotated[str, StringConstraints(pattern=DOC_ID_PATTERN, max_length=MAX_ID_LENGTH)]
Unit = Annotated[str, StringConstraints(pattern=UNIT_PATTERN)]
Number = Annotated[int, Field(ge=1, le=2**31 - 1)]
Page = Annotated[int, Field(ge=1, le=1000)]
Reason = Annotated[str, StringConstraints(pattern=TEXT, max_length=2000)]
Comment = Annotated[str, StringConstraints(pattern=NO_CONTROL, max_length=2000)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Title = Annotated[str, StringConstraints(pattern=ONE_LINE, max_length=200)]
Markdown = Annotated[str, StringConstraints(pattern=TEXT)]
HEAD_PATTERN = r"^[0-9a-f]{40}$"
Head = Annotated[str, StringConstraints(pattern=HEAD_PATTERN)]
Flag = Literal["0", "1"]
DocType = Literal[TYPES]  # type: ignore[valid-type]
ChangeState = Literal[STATES]  # type: ignore[valid-type]
AuditAction = Literal[ACTIONS]  # type: ignore[valid-type]

PATH_PARAMETERS: dict[str, Any] = {"doc_id": DocId, "number": Number}
_PATH_ADAPTERS = {name: TypeAdapter(kind) for name, kind in PATH_PARAMETERS.items()}


class Query(BaseModel):
    """A query string: unknown arguments are ignored, as browsers and proxies add their own."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Body(BaseModel):
    """A JSON body: unknown fields are refused, so a misspelt field is never silently dropped.
    An optional field is absent or has its type (``= None`` marks "absent"; null is refused)."""

    model_config = ConfigDict(extra="forbid")


# -- queries ------------------------------------------------------------------------------------
class MasterListQuery(Query):
    type: DocType | None = None
    unit: Unit | None = None
    obsolete: Flag | None = None
    as_of: IsoDate | None = None
    page: Page | None = None  # without it: the whole register (the contract's list); with it: 100 a page


class HeadQuery(Query):
    """``?head=``: the draft's head the upload was made from (a stale one is 409)."""

    head: Head


class DiffQuery(Query):
    from_: Number = Field(alias="from")
    to: Number


class UnitQuery(Query):
    unit: Unit | None = None


class ChangesQuery(Query):
    state: ChangeState | None = None
    page: Page | None = None  # without it: every change (the contract's list); with it: 50 a page


class SearchQuery(Query):
    q: Annotated[str, StringConstraints(max_length=500)] = ""
    scope: Literal["current", "all", "drafts"] = "current"
    type: DocType | None = None
    unit: Unit | None = None
    page: Page = 1
    obsolete: Flag | None = None


class AuditQuery(Query):
    since: IsoDate | None = None
    until: IsoDate | None = None
    document: DocId | None = None
    unit: Unit | None = None
    actor: Annotated[str, StringConstraints(max_length=100)] | None = None
    action: AuditAction | None = None
    page: Page = 1


# -- bodies -------------------------------------------------------------------------------------
class NewChange(Body):
    """A revision of ``document_id``, or a new document (then title, type and unit are needed)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["document_id"]}, {"required": ["title", "type", "unit"]}]},
    )
    document_id: DocId = None
    markdown: Markdown
    reason: Reason
    title: Title = None
    type: DocType = None
    unit: Unit = None
    effective_date: IsoDate = None
    review_months: Annotated[int, Field(ge=1, le=120)] = None

    @model_validator(mode="after")
    def _names_a_document(self):
        if not self.document_id and not (self.title and self.type and self.unit):
            raise ValueError("give document_id (a revision) or title, type and unit (a new document)")
        return self


class EditChange(Body):
    """The draft's new text; with ``onto_revision``, the resolution of an update's merge conflict."""

    markdown: Markdown
    head: Head
    reason: Reason = None
    title: Title = None
    onto_revision: Number = None


class Withdraw(Body):
    reason: Reason


class Review(Body):
    password: Password
    comment: Reason


class Approve(Body):
    password: Password
    comment: Comment = ""
    meaning: Literal["review", "approval"] = None


class Reject(Body):
    password: Password
    comment: Reason


class Cancel(Body):
    comment: Comment = ""


class Empty(Body):
    """No fields (an empty object or no body at all)."""


# -- the declaration a view carries -------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    summary: str
    query: type[Query] | None = None
    body: type[Body] | None = None
    ok: int = 200
    public: bool = False
    reading: bool = False  # documents and search: open to anonymous callers when PUBLIC_READ is on
    roles: tuple[str, ...] = ()  # any of these, else 403 (checked before the parameters)
    refusals: tuple[int, ...] = ()  # beyond what the parameters imply: 403, 409, 503...
    optional_body: bool = False
    # A file instead of JSON (issue 32: the Word round trip): what the answer is, what the body is
    answers: str = "application/json"
    file_body: str | None = None
    # The success body, field by field (:mod:`api_answers`): written into the OpenAPI document
    answer: type[BaseModel] | None = None
    # path value -> checked value, before the query and the body (a change the caller may not
    # see is 404 whatever the body says: a 422 must not tell that it exists)
    guards: tuple[tuple[str, Callable], ...] = ()


def operation(summary: str, **declared):
    """Declare ``view`` an API operation; the wrapper authenticates and validates, in that order."""
    spec = Operation(summary, **declared)

    def wrap(view):
        @functools.wraps(view)
        def checked(**path):
            if spec.reading:
                can_read()  # 401 before any other answer, unless the instance is public to read
            elif not spec.public:
                user()
            if spec.roles:
                require_role(*spec.roles)
            parsed = {name: _path_value(name, value) for name, value in path.items()}
            for name, guard in spec.guards:
                parsed[name] = guard(parsed[name])
            if spec.query is not None:
                parsed["query"] = _known_unit(_validate(spec.query, request.args.to_dict()))
            if spec.body is not None:
                parsed["body"] = _known_unit(_validate(spec.body, _json_object(optional=spec.optional_body)))
            return view(**parsed)

        checked.api_operation = spec
        return checked

    return wrap


def _known_unit(parsed: BaseModel) -> BaseModel:
    """A unit code must be one of the policy's units (the served OpenAPI document lists them)."""
    unit = getattr(parsed, "unit", None)
    if unit is not None and unit not in instance().workflow.policy().units:
        raise Invalid(
            "unit: %(unit)s is not a unit of this office", detail={"problems": [f"unit: unknown {unit}"]}, unit=unit
        )
    return parsed


def _path_value(name: str, value: str):
    adapter = _PATH_ADAPTERS.get(name)
    if adapter is None:
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError:
        raise Invalid("invalid %(value)s %(value2)s", value=name.replace("_", " "), value2=repr(value[:40])) from None


def _json_object(*, optional: bool) -> dict:
    if not request.data:
        if optional:
            return {}
        raise Malformed("a JSON body is required")
    try:
        data = request.get_json(force=True, silent=False)
    except Exception:  # noqa: BLE001 - werkzeug raises BadRequest subclasses for bad JSON/UTF-8
        raise Malformed("the body is not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise Malformed("the JSON body must be an object")
    return data


def _validate(model: type[BaseModel], data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False, include_input=False)]
        raise Invalid("; ".join(problems), detail={"problems": problems}) from None


def _problem(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"] if part != "from_") or "body"
    message = re.sub(r"^Value error, ", "", error["msg"])
    if error["type"] == "string_pattern_mismatch":
        message = _PATTERN_WORDS.get(error.get("ctx", {}).get("pattern"), message)
    return f"{where}: {message}"


_PATTERN_WORDS = {
    TEXT: "must hold some text, and no control characters",
    ONE_LINE: "must be one line of text, without control characters",
    NO_CONTROL: "must not hold control characters",
    DOC_ID_PATTERN: "a document ID: upper-case letters, digits and single dashes, starting with a letter (P-05)",
    UNIT_PATTERN: "a unit code: 2-8 upper-case letters or digits (OR)",
    HEAD_PATTERN: "the change's head commit (40 hexadecimal digits) from when you opened it",
}
