"""Approval: submitting for review, rejecting, signing — and the release the last signature makes.

A release moves the change branch and ``main`` in one atomic transaction; after ``main`` moves,
the catalog catches up and its listeners (search index) update — the after-commit hook of
gollum-lib's committer.
"""

from __future__ import annotations

import time

from ..core import signing
from ..core.changes import Change, change_ref
from ..core.commits import format_message
from ..core.documents import (
    document_path,
    refuse_conflict_markers,
)
from ..core.errors import (
    Conflict,
    Invalid,
    NotFound,
)
from ..core.records import Signature
from ..stores.figure_trees import released_figures
from ..stores.replication import retried_when_the_remote_moved
from .anchors import Anchoring
from .base import MAIN
from .keys import SigningKeys
from .trailers import carry


class Approval(SigningKeys, Anchoring):
    """The verbs of review: submit, reject, approve (sign); release follows the last signature."""

    @retried_when_the_remote_moved
    def submit(self, actor: signing.Person, number: int) -> Change:
        with self.store.write_lock():
            change = self.get(number)
            self.ensure_may_edit(actor, change)
            if change.state != "draft":
                raise Conflict("change %(number)s is %(state)s, not a draft", number=number, state=change.state)
            refuse_conflict_markers(self.content(change), f"change {number}")
            self._refuse_unchanged(change)
            self._step(change, "submit", "in_review", actor, "")
        return self._changed(number)

    @retried_when_the_remote_moved
    def reject(self, actor: signing.Person, number: int, *, password: str, comment: str) -> Change:
        if not comment or not comment.strip():
            raise Invalid("say why the change is rejected (a comment is required)")
        self.check_password(actor.login, password)
        with self.store.write_lock():
            change = self.get(number)
            meta = self.meta_of(change)
            signing.may_reject(self.policy(), meta.type, meta.unit, change, actor)
            self._step(change, "reject", "draft", actor, comment)
        return self._changed(number)

    @retried_when_the_remote_moved
    def approve(
        self, actor: signing.Person, number: int, *, password: str, comment: str = "", meaning: str | None = None
    ) -> Change:
        """Sign; the last required signature releases the change onto ``main``."""
        started = time.monotonic()
        self.check_password(actor.login, password)
        early = self.get(number)  # refused before a key is made or listed for nothing
        meta = self.meta_of(early)
        signing.requirement_for_signer(self.policy(), meta.type, meta.unit, early, actor, meaning)
        key = self.unlock_signing_key(actor, password)  # listed on main first when new
        with self.store.write_lock():
            change = self.get(number)
            policy = self.policy()
            meta = self.meta_of(change)
            requirement = signing.requirement_for_signer(policy, meta.type, meta.unit, change, actor, meaning)
            self._not_stale(change)
            refuse_conflict_markers(self.content(change), f"change {number}")
            now = self.now()
            content = change.blob
            signature = Signature(
                actor.name, actor.email, requirement.role, requirement.meaning, now, actor.login, content
            )
            trailers = carry(change, "approve", "in_review", actor) + [
                ("Signed-by", f"{actor.name} <{actor.email}>"),
                ("Signature-Meaning", requirement.meaning),
                ("Role", requirement.role),
                ("Content", content),
                ("Signature", signature.trailer()),
            ]
            message = format_message(
                f"Change {number}: {requirement.meaning} signed by {actor.name}", comment, trailers
            )
            signed = self._commit(
                self.store.commit(change.head).tree, [change.head], message, actor, sign=key.sign if key else None
            )
            updated = self._reread(change, signed)
            if signing.outstanding(policy, meta.type, meta.unit, updated):
                self.store.update_refs(
                    [(change_ref(number), signed, change.head)], reason=f"docctl: sign change {number}"
                )
            else:
                self._release(updated, signed, change.head, actor)
        self.catalog.catch_up()  # after-commit: catalog, then its listeners (search index)
        self.signed(actor, signed, f"change {number}: {requirement.meaning}")
        changed = self._changed(number)
        if changed.state == "released":
            self.anchor_quietly(f"release of change {number}")
            self._upkeep()
            for listener in self.release_listeners:
                listener(changed, time.monotonic() - started)
        return changed

    def _release(self, change: Change, signed: str, old_change_head: str, actor: signing.Person) -> None:
        main_head = self.store.head(MAIN)
        now = self.now()
        effective = max(change.effective_date or now.date(), now.date())
        withdraw = change.kind == "withdraw"
        revision = change.base_revision if withdraw else change.base_revision + 1
        marker_trailers = carry(change, "release", "released", actor)
        marker = self._commit(
            self.store.commit(signed).tree,
            [signed],
            format_message(f"Change {change.number}: released", "", marker_trailers),
            actor,
        )
        text = None if withdraw else self.content(change)
        files = {document_path(change.doc_id): None if withdraw else change.blob}
        files.update(released_figures(self.store, main_head, change.doc_id, text))
        tree = self.store.tree_with(self.store.commit(main_head).tree, files)
        trailers = [
            ("Action", "withdraw" if withdraw else "release"),
            ("Document", change.doc_id),
            ("Revision", str(revision)),
            ("Change", str(change.number)),
            ("Effective-Date", effective.isoformat()),
            ("Change-Reason", change.reason),
            ("Prepared-by", change.author),
        ]
        trailers += [
            ("Approved-by", f"{e.signature.name} <{e.signature.email}>") for e in change.signatures if e.signature
        ]
        trailers += [("Signature", e.signature.trailer()) for e in change.signatures if e.signature]
        verb = "Withdraw" if withdraw else "Release"
        subject = f"{verb} {change.doc_id} revision {revision}: {change.title}"
        merge = self._commit(tree, [main_head, marker], format_message(subject, change.reason, trailers), actor)
        self.store.update_refs(
            [(change_ref(change.number), marker, old_change_head), (MAIN, merge, main_head)],
            reason=f"docctl: {verb.lower()} {change.doc_id} r{revision}",
        )

    def _refuse_unchanged(self, change: Change) -> None:
        """A new revision must change something: the same text again would be a revision nobody
        can tell apart (a periodic review records "checked, no change needed" instead)."""
        if change.kind != "revise" or change.base_revision == 0:
            return
        try:
            base = self.catalog.revision(change.doc_id, change.base_revision)
        except NotFound:
            return
        if base.blob == change.blob:
            raise Invalid(
                "the text is the same as %(doc_id)s revision %(base_revision)s: change something, or record a "
                "periodic review if the document was checked and needs no change",
                doc_id=change.doc_id,
                base_revision=change.base_revision,
            )

    def _not_stale(self, change: Change) -> None:
        try:
            latest = self.catalog.revisions(change.doc_id)[0].revision
        except NotFound:
            latest = 0
        if latest != change.base_revision:
            raise Conflict(
                "%(doc_id)s is now at revision %(latest)s but this change was based on revision "
                "%(base_revision)s: update the change onto the current revision first",
                detail={"base_revision": change.base_revision, "current_revision": latest, "needs_update": True},
                doc_id=change.doc_id,
                latest=latest,
                base_revision=change.base_revision,
            )
