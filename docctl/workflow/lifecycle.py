"""A document's life after release: withdrawal, periodic review — and cancelling a change."""

from __future__ import annotations

from ..core import signing
from ..core.changes import Change, change_ref
from ..core.commits import format_message
from ..core.documents import (
    document_path,
    validate_document_id,
)
from ..core.errors import (
    Conflict,
    Forbidden,
    Invalid,
)
from ..core.records import Signature
from ..stores.git import ZERO_SHA
from ..stores.replication import retried_when_the_remote_moved
from .base import MAIN, clean_reason, require_role
from .keys import SigningKeys
from .trailers import change_trailers


class Lifecycle(SigningKeys):
    """The verbs around a released document: withdraw, review; cancel ends a change."""

    @retried_when_the_remote_moved
    def cancel(self, actor: signing.Person, number: int, comment: str = "") -> Change:
        with self.store.write_lock():
            change = self.get(number)
            if actor.login != change.author_login and not (actor.roles & {"quality_manager", "admin"}):
                raise Forbidden("only the author or a quality manager can cancel a change")
            if change.state in ("released", "cancelled"):
                raise Conflict("change %(number)s is already %(state)s", number=number, state=change.state)
            self._step(change, "cancel", "cancelled", actor, comment)
        return self._changed(number)

    @retried_when_the_remote_moved
    def withdraw(self, actor: signing.Person, doc_id: str, *, reason: str) -> Change:
        """Open a withdrawal (obsolete) change, submitted for the same signatures as a release."""
        require_role(actor, "author", "quality_manager")
        validate_document_id(doc_id)
        reason = clean_reason(reason)
        state = self.catalog.document(doc_id, self.today())
        if state.status == "obsolete":
            raise Conflict("%(doc_id)s is already obsolete", doc_id=doc_id)
        latest = state.latest
        with self.store.write_lock():
            self._no_open_change(doc_id, kind="withdraw")
            main_head = self.store.head(MAIN)
            tree = self.store.tree_with(self.store.commit(main_head).tree, {document_path(doc_id): None})
            number = self._next_number()
            trailers = change_trailers(
                number,
                "create",
                "withdraw",
                "in_review",
                doc_id,
                latest.title,
                reason,
                actor,
                main_head,
                latest.revision,
                None,
            )
            trailers.append(("Content", latest.blob))
            message = format_message(f"Change {number}: withdraw {doc_id}", reason, trailers)
            commit = self._commit(tree, [main_head], message, actor)
            self.store.update_refs([(change_ref(number), commit, ZERO_SHA)], reason=f"docctl: open withdrawal {number}")
        return self._changed(number)

    def ensure_may_review(self, actor: signing.Person, doc_id: str) -> None:
        """Forbidden unless ``actor`` could sign this kind of document of its unit."""
        state = self.catalog.document(validate_document_id(doc_id), self.today())
        current = state.shown
        if not any(signing.can_fulfil(actor, r, current.unit) for r in self.policy().requirements_for(current.type)):
            raise Forbidden("only a person who signs this kind of document can record its review")

    @retried_when_the_remote_moved
    def review(self, actor: signing.Person, doc_id: str, *, password: str, comment: str) -> str:
        """Record "reviewed, no change needed" on ``main``: restarts the review clock."""
        self.ensure_may_review(actor, doc_id)
        if not comment or not comment.strip():
            raise Invalid("a periodic review needs a comment (what was checked)")
        self.check_password(actor.login, password)
        state = self.catalog.document(doc_id, self.today())
        if state.current is None or state.status == "obsolete":
            raise Conflict("%(doc_id)s has no revision in force to review", doc_id=doc_id)
        policy = self.policy()
        current = state.current
        now = self.now()
        signature = Signature(
            actor.name,
            actor.email,
            next(r.role for r in policy.requirements_for(current.type) if signing.can_fulfil(actor, r, current.unit)),
            "review",
            now,
        )
        key = self.unlock_signing_key(actor, password)
        with self.store.write_lock():
            main_head = self.store.head(MAIN)
            trailers = [
                ("Action", "review"),
                ("Document", doc_id),
                ("Revision", str(current.revision)),
                ("Review-Comment", comment),
                ("Signed-by", f"{actor.name} <{actor.email}>"),
                ("Signature", signature.trailer()),
                ("Actor", actor.login),
            ]
            message = format_message(
                f"Review {doc_id} revision {current.revision}: no change needed", comment, trailers
            )
            tree = self.store.commit(main_head).tree
            commit = self._commit(tree, [main_head], message, actor, sign=key.sign if key else None)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: review {doc_id}")
        self.catalog.catch_up()
        self.signed(actor, commit, f"periodic review of {doc_id}")
        return commit

    def _no_open_change(self, doc_id: str, kind: str) -> None:
        # Several revisions of one document may be drafted at once (the stale one is refused at
        # release and updated by a three-way merge); two withdrawals of it would be noise.
        for summary in self.change_index.open_summaries():  # not all 40,000 changes (issue 12)
            if summary.doc_id == doc_id and summary.kind == kind:
                raise Conflict(
                    "change %(number)s for %(doc_id)s is already open; finish or cancel it first",
                    detail={"change": summary.number},
                    number=summary.number,
                    doc_id=doc_id,
                )
