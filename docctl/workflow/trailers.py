"""The trailers of a change's commits: what a step records, carried forward from the last one."""

from __future__ import annotations

from ..core import signing
from ..core.changes import KINDS, Change


def change_trailers(
    number, action, kind, state, doc_id, title, reason, actor, base_commit, base_revision, effective_date
) -> list[tuple[str, str]]:
    """The trailers of a change's first commit: everything the change is, stated once."""
    assert kind in KINDS
    trailers = [
        ("Change", str(number)),
        ("Action", action),
        ("Document", doc_id),
        ("Kind", kind),
        ("State", state),
        ("Title", title),
        ("Change-Reason", reason),
        ("Base-Commit", base_commit),
        ("Base-Revision", str(base_revision)),
        ("Prepared-by", f"{actor.name} <{actor.email}>"),
        ("Prepared-by-Login", actor.login),
    ]
    if effective_date:
        trailers.append(("Effective-Date", effective_date.isoformat()))
    trailers.append(("Actor", actor.login))
    return trailers


def carry(
    change: Change,
    action: str,
    state: str,
    actor: signing.Person,
    *,
    reason: str | None = None,
    title: str | None = None,
    base_commit: str | None = None,
    base_revision: int | None = None,
):
    """The trailers of the next commit: the change's description carried forward, updated."""
    trailers = [
        ("Change", str(change.number)),
        ("Action", action),
        ("Document", change.doc_id),
        ("Kind", change.kind),
        ("State", state),
        ("Title", title or change.title),
        ("Change-Reason", reason or change.reason),
        ("Base-Commit", base_commit or change.base_commit),
        ("Base-Revision", str(change.base_revision if base_revision is None else base_revision)),
        ("Prepared-by", change.author),
        ("Prepared-by-Login", change.author_login),
    ]
    if change.effective_date:
        trailers.append(("Effective-Date", change.effective_date.isoformat()))
    trailers.append(("Actor", actor.login))
    return trailers
