"""The vocabulary of commits on ``main``: what each docctl commit means, read from its trailers.

Shared by the writer (workflow builds messages from these names) and the readers (catalog and,
later, audit verification), so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .commits import Commit

# "keys": a signing key listed in or closed in .docctl/allowed_signers (issue 29).
ACTIONS_ON_MAIN = ("init", "policy", "release", "withdraw", "review", "migrate", "keys")
# What puts a revision in force: a release through the workflow, or a migration of a document
# approved on paper (issue 13: `Action: migrate`, attested, never read as a docctl approval).
RELEASES = ("release", "migrate")


@dataclass(frozen=True)
class Signature:
    """One electronic signature: who, in which role, with what meaning, when, on which content."""

    name: str
    email: str
    role: str
    meaning: str
    signed_at: datetime
    login: str = ""
    content: str = ""

    def trailer(self) -> str:
        # "Signature: <meaning> <role> <ISO time> Name <email>" — the identity goes last
        # because names contain spaces. Approved-by (CONTRACT §1) is written next to it.
        return f"{self.meaning} {self.role} {self.signed_at.isoformat()} {self.name} <{self.email}>"

    @classmethod
    def from_trailer(cls, value: str) -> Signature:
        meaning, role, stamp, ident = value.split(" ", 3)
        name, _, email = ident.rpartition(" <")
        return cls(name, email.rstrip(">"), role, meaning, datetime.fromisoformat(stamp))

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "meaning": self.meaning,
            "signed_at": self.signed_at.isoformat(),
        }


def parse_identity(value: str) -> tuple[str, str]:
    name, _, email = value.rpartition(" <")
    return name, email.rstrip(">")


@dataclass(frozen=True)
class MainRecord:
    """One commit on ``main`` as docctl understands it."""

    commit: str
    action: str
    doc_id: str | None
    revision: int | None
    change: int | None
    effective_date: date | None
    recorded_at: datetime
    actor_name: str
    actor_email: str
    prepared_by: str
    reason: str
    signatures: tuple[Signature, ...]
    actor_login: str = ""
    subject: str = ""


def read_main_record(commit: Commit) -> MainRecord:
    """Interpret a ``main`` commit; commits without a known ``Action`` are kept as ``unknown``."""
    action = commit.trailer("Action") or "unknown"
    if action not in ACTIONS_ON_MAIN:
        action = "unknown"
    revision = commit.trailer("Revision")
    change = commit.trailer("Change")
    effective = commit.trailer("Effective-Date")
    signatures = []
    for value in commit.trailer_values("Signature"):
        try:
            signatures.append(Signature.from_trailer(value))
        except ValueError:
            continue
    return MainRecord(
        commit=commit.sha,
        action=action,
        doc_id=commit.trailer("Document"),
        revision=int(revision) if revision and revision.isdigit() else None,
        change=int(change) if change and change.isdigit() else None,
        effective_date=date.fromisoformat(effective) if effective else None,
        recorded_at=commit.authored_at,
        actor_name=commit.author.name,
        actor_email=commit.author.email,
        prepared_by=commit.trailer("Prepared-by", "") or "",
        reason=commit.trailer("Change-Reason", "") or commit.trailer("Review-Comment", "") or "",
        signatures=tuple(signatures),
        actor_login=commit.trailer("Actor", "") or "",
        subject=commit.subject,
    )
