"""The JSON API's success bodies, field by field (issue 32): what a script may rely on.

These models only *describe* the answers — the views build them from the domain's ``as_json`` —
and :mod:`openapi` writes them into ``/api/v1/openapi.json``. Schemathesis checks every answer of
the served API against them (``.ci/fuzz-api``: response_schema_conformance), and
``tests/test_api_answers.py`` validates real answers with ``jsonschema``, so a field renamed or
dropped in ``as_json`` fails a test instead of a customer's integration. Fields are required when
the answer always carries them; ``X | None`` is a field that is always there and may be null.
Unknown extra fields are allowed: adding a field is not a breaking change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.changes import STATES
from ..core.documents import TYPES
from ..derived.audit_trail import ACTIONS

Timestamp = str  # ISO 8601 with its offset, e.g. 2026-06-01T12:00:00+02:00
Day = str  # YYYY-MM-DD


def _describe(description: str, **extra):
    return Field(description=description, **extra)


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Approval(Answer):
    """One electronic signature as the released revision records it."""

    name: str
    email: str
    role: str
    meaning: str = _describe("review or approval")
    signed_at: Timestamp


class ChangeApproval(Approval):
    content: str = _describe("the blob id of the text this signature covers")


class Pending(Answer):
    """An approved revision waiting for its effective date."""

    revision: int
    effective_date: Day


class Withdrawn(Answer):
    on: Day
    reason: str


class DocumentFields(Answer):
    """What every answer about a document says of it (the register's row, a revision)."""

    id: str
    title: str
    type: Literal[TYPES]  # type: ignore[valid-type]
    unit: str
    revision: int
    effective_date: Day
    review_due: Day | None
    status: str = _describe("effective, approved, obsolete, superseded")
    withdrawn: Withdrawn | None = None


class RegisterRow(DocumentFields):
    """One line of the master list."""

    pending: Pending | None


class MasterList(Answer):
    documents: list[RegisterRow]
    total: int | None = _describe("with ?page=: how many documents match the filters", default=None)
    next_page: int | None = None


class DocumentRevision(DocumentFields):
    """A revision with its text: markdown (the file) and html (as the document page shows it)."""

    released_at: Timestamp
    prepared_by: str
    change_reason: str
    markdown: str
    html: str
    approvals: list[Approval]
    pending: Pending | None = None


class OneRevision(DocumentRevision):
    current: bool = _describe("false: this is not the revision in force")


class RevisionRecord(Answer):
    revision: int
    migrated: bool = _describe("brought in as approved on paper, not signed in docctl")
    commit: str
    released_at: Timestamp
    effective_date: Day
    author: str
    change_reason: str
    change: int | None
    approvals: list[Approval]


class Revisions(Answer):
    revisions: list[RevisionRecord]


class Diff(Answer):
    from_: int = Field(alias="from")
    to: int
    unified: str
    html: str = _describe("the redline, sanitized")


class ReviewRecorded(Answer):
    document_id: str
    commit: str
    review_due: Day


class Acknowledged(Answer):
    document_id: str
    revision: int
    login: str
    at: Timestamp


class Reader(Answer):
    login: str
    name: str
    unit: str


class ConfirmedReader(Reader):
    at: Timestamp


class Confirmations(Answer):
    document_id: str
    revision: int
    confirmed: list[ConfirmedReader]
    missing: list[Reader]


class ChangeSummary(Answer):
    number: int
    state: Literal[STATES]  # type: ignore[valid-type]
    kind: Literal["new", "revise", "withdraw"]
    document_id: str
    title: str
    author: str
    reason: str
    head: str = _describe("the change branch's head commit: send it back with an edit")
    base_revision: int
    effective_date: Day | None
    updated_at: Timestamp


class ChangeList(Answer):
    changes: list[ChangeSummary]
    next_page: int | None = None


class EventSignature(Approval):
    content: str
    voided: bool


class ChangeEvent(Answer):
    commit: str
    action: str
    actor: str
    login: str
    at: Timestamp
    comment: str
    signature: EventSignature | None = None


class ChangeRecord(ChangeSummary):
    approvals: list[ChangeApproval]
    voided_approvals: list[ChangeApproval]
    events: list[ChangeEvent]
    content: str = _describe("the blob id of the draft's text (empty for a withdrawal)")


class ChangeWithText(ChangeRecord):
    markdown: str = _describe("the whole file, front matter included: edit it and PUT it back with head")
    html: str = _describe("its body rendered as the document page will show it")


class Edited(Answer):
    head: str
    state: Literal[STATES]  # type: ignore[valid-type]


class WordUploaded(Edited):
    changed_paragraphs: int
    warnings: list[str]


class Step(Answer):
    number: int
    state: Literal[STATES]  # type: ignore[valid-type]
    head: str
    revision: int | None = _describe("the revision released, when this step released it", default=None)


class DueReview(RegisterRow):
    last_review: Day
    overdue: bool


class Reviews(Answer):
    reviews: list[DueReview]


class SearchHit(Answer):
    id: str
    title: str
    revision: int | None
    snippet: str = _describe("HTML: the matched words in <mark>, everything else escaped")
    score: float
    type: str
    unit: str
    status: str
    in_force: bool
    obsolete: bool


class SearchResults(Answer):
    total: int = _describe("documents found (may be an estimate for a very common word)")
    page: int
    per_page: int
    suggestion: str | None = _describe("a spelling the index knows, when the query found little")
    partial: bool
    facets: dict[str, dict[str, int]] = _describe("type and unit: value -> count")
    results: list[SearchHit]


class AuditEvent(Answer):
    at: Timestamp
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    document_id: str | None
    revision: int | None
    change: int | None
    actor: str
    login: str | None
    unit: str | None
    commit: str | None
    detail: str


class AuditEvents(Answer):
    events: list[AuditEvent]
    complete: bool = _describe("false while the trail is being rebuilt from git")
    next_page: int | None = None


class Checked(Answer):
    commits: int
    releases: int
    signatures: int
    migrations: int
    signed_commits: int


class VerifyProblem(Answer):
    commit: str
    problem: str
    document_id: str | None = None


class Verification(Answer):
    ok: bool
    checked: Checked
    mode: Literal["full", "incremental"]
    since: str | None = _describe("main's head at the last verified anchor (incremental)")
    skipped_commits: int
    signed_from: str | None
    notes: list[str]
    problems: list[VerifyProblem]


class OpenApiDocument(Answer):
    openapi: str
    info: dict
    paths: dict
