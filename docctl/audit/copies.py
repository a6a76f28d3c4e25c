"""Controlled copies (issue 16): numbered paper copies of a revision, issued to a unit or a person.

ISO 9001 7.5.3.2 asks that distribution be controlled and obsolete copies withdrawn. Each step is a
commit on ``refs/heads/copies`` (an empty tree: the commits *are* the register), so ``git log copies``
tells an auditor who holds which copy of which revision without docctl:

    Controlled copy 3 of P-05 revision 4 issued to Wydział Finansowy

    Action: copy-issued
    Document: P-05
    Revision: 4
    Copy: 3
    Holder: Wydział Finansowy
    Holder-Unit: FN
    Actor: pmazur

and ``Action: copy-returned`` when the copy comes back. The register is read from that branch once
per head (a few hundred commits in a year) and kept in memory until the branch moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

from ..core.commits import Identity, format_message
from ..core.documents import validate_document_id
from ..core.errors import Conflict, Forbidden, Invalid, NotFound
from ..derived.catalog import Catalog
from ..stores.git import EMPTY_TREE, ZERO_SHA, GitStore
from ..stores.replication import retried_when_the_remote_moved
from .readership import may_see_confirmations

COPIES = "refs/heads/copies"


@dataclass(frozen=True)
class ControlledCopy:
    doc_id: str
    number: int
    revision: int
    holder: str  # as printed on the copy: a unit's name or a person's name
    holder_unit: str | None
    holder_login: str | None
    issued_at: datetime
    issued_by: str
    returned_at: datetime | None = None
    returned_by: str | None = None

    @property
    def held(self) -> bool:
        return self.returned_at is None


def may_manage_copies(person, unit: str) -> bool:
    """Quality managers everywhere; approvers for the documents of their own units."""
    return "quality_manager" in person.roles or ("approver" in person.roles and unit in person.units)


class CopyRegister:
    def __init__(
        self,
        store: GitStore,
        catalog: Catalog,
        *,
        service: Identity,
        clock: Callable[[], datetime],
        today: Callable[[], date],
    ) -> None:
        self.store, self.catalog, self.service, self.clock, self.today = store, catalog, service, clock, today
        self._cache: tuple[str, tuple[ControlledCopy, ...]] | None = None
        self._lock = threading.Lock()
        self.sync = None  # with a git remote: see docctl.replication

    # -- reading -----------------------------------------------------------------------------
    def all(self) -> tuple[ControlledCopy, ...]:
        try:
            head = self.store.head(COPIES)
        except NotFound:
            return ()
        with self._lock:
            if self._cache and self._cache[0] == head:
                return self._cache[1]
        copies: dict[tuple[str, int], ControlledCopy] = {}
        for commit in self.store.log(head, reverse=True, first_parent=True):
            action, doc_id = commit.trailer("Action"), commit.trailer("Document")
            number = int(commit.trailer("Copy") or 0)
            if action == "copy-issued":
                copies[(doc_id, number)] = ControlledCopy(
                    doc_id,
                    number,
                    int(commit.trailer("Revision") or 0),
                    commit.trailer("Holder") or "",
                    commit.trailer("Holder-Unit"),
                    commit.trailer("Holder-Login"),
                    commit.authored_at,
                    commit.author.name,
                )
            elif action == "copy-returned" and (doc_id, number) in copies:
                copies[(doc_id, number)] = replace(
                    copies[(doc_id, number)], returned_at=commit.authored_at, returned_by=commit.author.name
                )
        register = tuple(sorted(copies.values(), key=lambda c: (c.doc_id, c.number)))
        with self._lock:
            self._cache = (head, register)
        return register

    def of(self, doc_id: str) -> list[ControlledCopy]:
        return [c for c in self.all() if c.doc_id == doc_id]

    def get(self, doc_id: str, number: int) -> ControlledCopy:
        for copy in self.of(doc_id):
            if copy.number == number:
                return copy
        raise NotFound("%(doc_id)s has no controlled copy %(number)s", doc_id=doc_id, number=number)

    def to_withdraw(self, today: date, person=None) -> list[tuple[ControlledCopy, str]]:
        """Copies still held of a revision no longer in force, with why ("superseded by revision
        5", "withdrawn"); for ``person``, only those of units whose copies they may see."""
        due = []
        for copy in self.all():
            if not copy.held:
                continue
            state = self.catalog.document(copy.doc_id, today)
            if person is not None and not may_see_confirmations(person, state.shown.unit):
                continue
            if state.status == "obsolete":
                due.append((copy, "withdrawn"))
            elif state.current is not None and state.current.revision != copy.revision:
                due.append((copy, f"superseded by revision {state.current.revision}"))
        return due

    # -- writing -----------------------------------------------------------------------------
    @retried_when_the_remote_moved
    def issue(
        self,
        actor,
        doc_id: str,
        *,
        holder_unit: str | None = None,
        holder_login: str | None = None,
        holder_name: str | None = None,
        units: dict[str, str] | None = None,
    ) -> ControlledCopy:
        """Issue the next numbered copy of the revision in force to a unit or to a person."""
        validate_document_id(doc_id)
        state = self.catalog.document(doc_id, self.today())
        if state.current is None or state.status == "obsolete":
            raise Conflict("%(doc_id)s has no revision in force to copy", doc_id=doc_id)
        if not may_manage_copies(actor, state.current.unit):
            raise Forbidden(
                "controlled copies of %(doc_id)s are issued by quality managers and approvers of its unit",
                doc_id=doc_id,
            )
        if bool(holder_unit) == bool(holder_login):
            raise Invalid("issue the copy either to a unit or to a person")
        if holder_unit:
            if units is None or holder_unit not in units:
                raise Invalid("unknown unit %(holder_unit)s", holder_unit=holder_unit)
            holder = units[holder_unit]
        else:
            holder = holder_name or holder_login
        with self.store.write_lock():
            number = max((c.number for c in self.of(doc_id)), default=0) + 1
            trailers = [
                ("Action", "copy-issued"),
                ("Document", doc_id),
                ("Revision", str(state.current.revision)),
                ("Copy", str(number)),
                ("Holder", holder),
                *([("Holder-Unit", holder_unit)] if holder_unit else [("Holder-Login", holder_login)]),
                ("Actor", actor.login),
            ]
            subject = f"Controlled copy {number} of {doc_id} revision {state.current.revision} issued to {holder}"
            self._record(format_message(subject, "", trailers), actor)
        return self.get(doc_id, number)

    @retried_when_the_remote_moved
    def mark_returned(self, actor, doc_id: str, number: int) -> ControlledCopy:
        copy = self.get(validate_document_id(doc_id), number)
        unit = self.catalog.document(doc_id, self.today()).shown.unit
        if not may_manage_copies(actor, unit):
            raise Forbidden(
                "controlled copies of %(doc_id)s are managed by quality managers and approvers of its unit",
                doc_id=doc_id,
            )
        if not copy.held:
            raise Conflict("copy %(number)s of %(doc_id)s was already returned", number=number, doc_id=doc_id)
        trailers = [("Action", "copy-returned"), ("Document", doc_id), ("Copy", str(number)), ("Actor", actor.login)]
        with self.store.write_lock():
            self._record(format_message(f"Controlled copy {number} of {doc_id} returned", "", trailers), actor)
        return self.get(doc_id, number)

    def _record(self, message: str, actor) -> None:
        try:
            parent = self.store.head(COPIES)
        except NotFound:
            parent = None
        commit = self.store.commit_tree(
            EMPTY_TREE,
            [parent] if parent else [],
            message,
            author=Identity(actor.name, actor.email),
            committer=self.service,
            when=self.clock(),
        )
        self.store.update_refs([(COPIES, commit, parent or ZERO_SHA)], reason="docctl: controlled copy")
