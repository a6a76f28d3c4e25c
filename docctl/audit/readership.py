"""Who must read a document, and who has confirmed the revision in force (issue 18).

The audience of a document is every active person of its owning unit; a quality *policy* is for
everyone. Confirmations are per revision, so a new revision asks everyone again. Pure rules over
people, states and confirmations: no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..derived.catalog import DocumentState

REPORT_ROLES = ("quality_manager", "auditor", "admin")


def in_audience(person, doc_type: str, unit: str) -> bool:
    return bool(getattr(person, "active", True)) and (doc_type == "policy" or unit in person.units)


def may_see_confirmations(person, unit: str) -> bool:
    """Quality managers, auditors and admins everywhere; approvers for their own units."""
    return bool(set(REPORT_ROLES) & set(person.roles)) or ("approver" in person.roles and unit in person.units)


@dataclass(frozen=True)
class Confirmed:
    login: str
    name: str
    unit: str
    at: datetime


@dataclass(frozen=True)
class Missing:
    login: str
    name: str
    unit: str


@dataclass(frozen=True)
class ConfirmationReport:
    """Who has and who has not confirmed the revision of ``state`` in force."""

    state: DocumentState
    revision: int
    confirmed: tuple[Confirmed, ...]
    missing: tuple[Missing, ...]

    def as_json(self) -> dict:
        return {
            "document_id": self.state.doc_id,
            "revision": self.revision,
            "confirmed": [
                {"login": c.login, "name": c.name, "unit": c.unit, "at": c.at.isoformat()} for c in self.confirmed
            ],
            "missing": [{"login": m.login, "name": m.name, "unit": m.unit} for m in self.missing],
        }


def confirmation_report(state: DocumentState, people: Iterable, acks: Iterable, unit: str | None = None):
    """``acks``: confirmations of this document (any revision); ``unit`` limits the people shown
    to that unit. None when no revision is in force (nothing to confirm)."""
    rev = state.current
    if rev is None or state.status == "obsolete":
        return None
    when = {a.login: a.at for a in acks if a.revision == rev.revision}
    confirmed, missing = [], []
    for person in sorted(people, key=lambda p: (p.name, p.login)):
        if not in_audience(person, rev.type, rev.unit) or (unit and unit not in person.units):
            continue
        shown_unit = unit or (rev.unit if rev.unit in person.units else " ".join(sorted(person.units)))
        if person.login in when:
            confirmed.append(Confirmed(person.login, person.name, shown_unit, when[person.login]))
        else:
            missing.append(Missing(person.login, person.name, shown_unit))
    # Someone outside today's audience who confirmed (moved units since) still counts as confirmed.
    known = {c.login for c in confirmed} | {m.login for m in missing}
    names = {p.login: p.name for p in people}
    for login, at in sorted(when.items()):
        if login not in known and not unit:
            confirmed.append(Confirmed(login, names.get(login, login), "", at))
    return ConfirmationReport(state, rev.revision, tuple(confirmed), tuple(missing))


def to_confirm(person, states: Iterable[DocumentState], confirmed: set[tuple[str, int]]) -> list[DocumentState]:
    """Documents in force for ``person`` whose current revision they have not confirmed yet."""
    return [
        s
        for s in states
        if s.current is not None
        and s.status == "effective"
        and in_audience(person, s.current.type, s.current.unit)
        and (s.doc_id, s.current.revision) not in confirmed
    ]
