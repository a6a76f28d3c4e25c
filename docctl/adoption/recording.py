"""Imported files recorded as changes (issue 13): each converted file becomes a draft, authored by
the person importing it, with its figures beside it — then reviewed and signed like any other.

The conversion itself is :mod:`docctl.importing`; this module only writes, through the workflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..core import signing
from ..core.errors import DocctlError
from ..workflow import Workflow
from .conversion import ImportPlan


@dataclass
class ImportResult:
    plan: ImportPlan
    change: int | None = None
    commit: str | None = None  # a migration: its commit on main
    error: str | None = None

    def as_json(self) -> dict:
        return {**self.plan.as_json(), "change": self.change, "migrated": self.commit, "import_error": self.error}


def record_plans(
    workflow: Workflow, actor: signing.Person, plans: Iterable[ImportPlan], *, migrate_password: str | None = None
) -> list[ImportResult]:
    """Open one change per ready plan — or, with ``migrate_password`` (a quality manager's), record
    each as already in force, approved on paper (:meth:`Workflow.migrate`). A plan that is not
    ready, or that the workflow refuses, is reported and the others still go in (a batch of a
    hundred should not stop at the first)."""
    results = []
    today = workflow.today()
    for plan in plans:
        result = ImportResult(plan)
        results.append(result)
        if not plan.ready:
            result.error = plan.error or f"missing: {', '.join(plan.missing)}"
            continue
        if migrate_password is not None:
            _migrate(workflow, actor, plan, migrate_password, result)
            continue
        effective = plan.effective_date if plan.effective_date and plan.effective_date >= today else None
        if plan.effective_date and effective is None:
            plan.warnings.append(
                f"the paper effective date {plan.effective_date.isoformat()} lies in the past: "
                "the new revision takes effect when released"
            )
        try:
            change = workflow.create(
                actor,
                doc_id=plan.doc_id,
                markdown=plan.text_for(plan.doc_id),
                reason=_reason(plan),
                title=plan.title,
                doc_type=plan.doc_type,
                unit=plan.unit,
                review_months=plan.review_months,
                effective_date=effective,
                figures=plan.figures,
            )
        except DocctlError as exc:
            result.error = exc.message
        else:
            result.change = change.number
    return results


def _migrate(workflow: Workflow, actor, plan: ImportPlan, password: str, result: ImportResult) -> None:
    missing = [
        name
        for name, value in (("effective_date", plan.effective_date), ("approved_by", plan.approved_by))
        if not value
    ]
    if missing:
        result.error = f"a migration needs what the paper says: missing {', '.join(missing)}"
        return
    record = plan.paper_record or plan.source.name
    if not plan.paper_record:
        plan.warnings.append(f"no paper record named (mapping column paper_record): {plan.source.name} stands for it")
    try:
        result.commit = workflow.migrate(
            actor,
            password=password,
            doc_id=plan.doc_id,
            markdown=plan.text_for(plan.doc_id),
            title=plan.title,
            doc_type=plan.doc_type,
            unit=plan.unit,
            effective_date=plan.effective_date,
            paper_record=record,
            paper_approved_by=[a.strip() for a in re.split(r"[;,]", plan.approved_by or "") if a.strip()],
            paper_prepared_by=plan.prepared_by,
            paper_revision=plan.paper_revision,
            review_months=plan.review_months,
            figures=plan.figures,
        )
    except DocctlError as exc:
        result.error = exc.message


def _reason(plan: ImportPlan) -> str:
    parts = [f"Imported from {plan.source.name}"]
    if plan.approved_by:
        parts.append(f"approved on paper by {plan.approved_by}")
    if plan.effective_date:
        parts.append(f"in force on paper since {plan.effective_date.isoformat()}")
    return "; ".join(parts)
