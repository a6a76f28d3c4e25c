"""A change request, read back from its branch ``refs/heads/changes/<N>``.

Every commit on the branch carries the change's description in its trailers (document, kind,
state, reason, base), so the head commit alone says what the change is — listing changes costs
one ``git for-each-ref`` plus one ``git log --no-walk``, whatever the repository's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .commits import Commit
from .records import Signature, parse_identity

STATES = ("draft", "in_review", "released", "cancelled")
KINDS = ("new", "revise", "withdraw")
EDIT_ACTIONS = ("create", "edit", "update")
# What reading a change's events needs of each commit (whole-history rebuilds keep only these).
STEP_TRAILERS = frozenset({"Change", "Action", "State", "Actor", "Content", "Signature"})


def change_ref(number: int) -> str:
    return f"refs/heads/changes/{int(number)}"


@dataclass(frozen=True)
class ChangeEvent:
    """One step of a change: who did what, when, with which comment or signature."""

    commit: str
    action: str
    actor_name: str
    actor_email: str
    actor_login: str
    at: datetime
    comment: str
    content: str
    signature: Signature | None = None
    voided: bool = False

    def as_json(self) -> dict:
        data = {
            "commit": self.commit,
            "action": self.action,
            "actor": f"{self.actor_name} <{self.actor_email}>",
            "login": self.actor_login,
            "at": self.at.isoformat(),
            "comment": self.comment,
        }
        if self.signature:
            data["signature"] = {**self.signature.as_json(), "content": self.content, "voided": self.voided}
        return data


@dataclass(frozen=True)
class ChangeSummary:
    """What the head commit alone tells about a change (enough for lists)."""

    number: int
    head: str
    kind: str
    state: str
    doc_id: str
    title: str
    reason: str
    author: str
    author_login: str
    base_commit: str
    base_revision: int
    effective_date: date | None
    updated_at: datetime

    @classmethod
    def from_head(cls, number: int, head: Commit) -> ChangeSummary:
        effective = head.trailer("Effective-Date")
        return cls(
            number=number,
            head=head.sha,
            kind=head.trailer("Kind", "revise"),
            state=head.trailer("State", "draft"),
            doc_id=head.trailer("Document", ""),
            title=head.trailer("Title", "") or head.trailer("Document", ""),
            reason=head.trailer("Change-Reason", ""),
            author=head.trailer("Prepared-by", ""),
            author_login=head.trailer("Prepared-by-Login", ""),
            base_commit=head.trailer("Base-Commit", ""),
            base_revision=int(head.trailer("Base-Revision", "0") or 0),
            effective_date=date.fromisoformat(effective) if effective else None,
            updated_at=head.authored_at,
        )

    def as_json(self) -> dict:
        return {
            "number": self.number,
            "state": self.state,
            "kind": self.kind,
            "document_id": self.doc_id,
            "title": self.title,
            "author": self.author,
            "reason": self.reason,
            "head": self.head,
            "base_revision": self.base_revision,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Change(ChangeSummary):
    """A change with its whole event history and the signatures that still hold."""

    blob: str = ""
    events: tuple[ChangeEvent, ...] = field(default=())

    @property
    def editors(self) -> frozenset[str]:
        """Logins of everyone who authored or edited the content: none of them may sign."""
        return frozenset(e.actor_login for e in self.events if e.action in EDIT_ACTIONS)

    @property
    def signatures(self) -> tuple[ChangeEvent, ...]:
        return tuple(e for e in self.events if e.action == "approve" and not e.voided)

    @property
    def voided_signatures(self) -> tuple[ChangeEvent, ...]:
        return tuple(e for e in self.events if e.action == "approve" and e.voided)

    def as_json(self) -> dict:
        data = super().as_json()
        data["approvals"] = [{**e.signature.as_json(), "content": e.content} for e in self.signatures if e.signature]
        data["voided_approvals"] = [
            {**e.signature.as_json(), "content": e.content} for e in self.voided_signatures if e.signature
        ]
        data["events"] = [e.as_json() for e in self.events]
        data["content"] = self.blob
        return data


def read_events(commits: list[Commit]) -> tuple[ChangeEvent, ...]:
    """Events oldest first; a signature is void when content changed after it or a reject followed."""
    events: list[ChangeEvent] = []
    for commit in commits:
        action = commit.trailer("Action", "edit")
        signature = None
        if action == "approve" and commit.trailer("Signature"):
            try:
                signature = Signature.from_trailer(commit.trailer("Signature"))
            except ValueError:
                signature = None
        body = commit.message.split("\n\n", 1)[1] if "\n\n" in commit.message else ""
        keys = {k for k, _ in commit.trailers}
        comment = "\n".join(line for line in body.splitlines() if not _is_trailer_line(line, keys)).strip()
        name, email = parse_identity(f"{commit.author.name} <{commit.author.email}>")
        events.append(
            ChangeEvent(
                commit=commit.sha,
                action=action,
                actor_name=name,
                actor_email=email,
                actor_login=commit.trailer("Actor", ""),
                at=commit.authored_at,
                comment=comment,
                content=commit.trailer("Content", ""),
                signature=signature,
            )
        )
    # Void every signature followed by an edit or a rejection (21 CFR 11.70: the signature is
    # linked to the exact record it signed; a later change breaks that link, visibly).
    voided: list[ChangeEvent] = []
    pending: list[int] = []
    for index, event in enumerate(events):
        if event.action == "approve":
            pending.append(index)
        elif event.action in (*EDIT_ACTIONS, "reject"):
            for i in pending:
                events[i] = _void(events[i])
            pending.clear()
    del voided
    return tuple(events)


def _void(event: ChangeEvent) -> ChangeEvent:
    return ChangeEvent(**{**event.__dict__, "voided": True})


def _is_trailer_line(line: str, keys: set[str]) -> bool:
    key, sep, _ = line.partition(": ")
    return bool(sep) and key in keys
