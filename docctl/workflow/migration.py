"""Migration from paper (issue 13): a document approved on paper recorded as already in force.

A verb of the workflow, not of adoption/: it writes ``main`` (only the workflow writes git);
converting and recording imported files (adoption/) calls the workflow like any other client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..core import signing
from ..core.commits import format_message
from ..core.documents import (
    Metadata,
    document_path,
    parse_document,
    validate_document_id,
)
from ..core.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    refuse_control_characters,
)
from ..core.figures import Figure
from ..core.records import Signature
from ..stores.figure_trees import draft_figures, released_figures
from ..stores.replication import retried_when_the_remote_moved
from .base import MAIN, require_role
from .keys import SigningKeys


class PaperMigration(SigningKeys):
    """migrate: one ``Action: migrate`` commit on ``main``, attested by a quality manager."""

    @retried_when_the_remote_moved
    def migrate(
        self,
        actor: signing.Person,
        *,
        password: str,
        doc_id: str,
        markdown: str,
        title: str,
        doc_type: str,
        unit: str,
        effective_date: date,
        paper_record: str,
        paper_approved_by: list[str],
        paper_prepared_by: str | None = None,
        paper_revision: str | None = None,
        review_months: int | None = None,
        figures: Sequence[Figure] = (),
    ) -> str:
        """Record a document approved on paper as already in force (issue 13), as revision 1 of
        a document new to docctl: one commit on ``main`` with ``Action: migrate``, the paper's
        approvers and record named as such (``Paper-Approved-by``, ``Paper-Record``), attested by
        the quality manager's electronic signature now (meaning ``attestation``: "this text is
        the one approved on paper"). It is not a docctl approval and never reads as one."""
        require_role(actor, "quality_manager")
        if "admin" in actor.roles:
            raise Forbidden("an admin never signs, not even to attest a migration")
        self.check_password(actor.login, password)
        record = (paper_record or "").strip()
        approvers = [a.strip() for a in paper_approved_by if a and a.strip()]
        if not record or not approvers:
            raise Invalid("a migrated document needs the paper record and who approved it on paper")
        refuse_control_characters(record + " ".join(approvers) + (paper_prepared_by or ""), "the paper record")
        if effective_date > self.today():
            raise Invalid("a migrated document is already in force: its effective date cannot lie in the future")
        policy = self.policy()
        validate_document_id(doc_id)
        key = self.unlock_signing_key(actor, password)
        with self.store.write_lock():
            try:
                self.catalog.revisions(doc_id)
            except NotFound:
                pass
            else:
                raise Conflict(
                    "%(doc_id)s is already in docctl: only a document new to docctl is migrated", doc_id=doc_id
                )
            main_head = self.store.head(MAIN)
            base = Metadata(doc_id, title, doc_type, unit, review_months or 12)
            text = self._compose(markdown, base, policy, title=title, review_months=review_months, fixed=False)
            blob = self.store.write_blob(text.encode("utf-8"))
            files = {document_path(doc_id): blob, **draft_figures(self.store, doc_id, text, figures, [main_head])}
            files.update(released_figures(self.store, main_head, doc_id, text))
            tree = self.store.tree_with(self.store.commit(main_head).tree, files)
            now = self.now()
            attestation = Signature(actor.name, actor.email, "quality_manager", "attestation", now, actor.login, blob)
            reason = f"Migrated from paper ({record}); approved on paper by {', '.join(approvers)}"
            trailers = [
                ("Action", "migrate"),
                ("Document", doc_id),
                ("Revision", "1"),
                ("Effective-Date", effective_date.isoformat()),
                ("Change-Reason", reason),
                ("Prepared-by", paper_prepared_by or "—"),
                ("Paper-Record", record),
                *[("Paper-Approved-by", name) for name in approvers],
            ]
            if paper_revision:
                trailers.append(("Paper-Revision", paper_revision))
            trailers += [("Content", blob), ("Signature", attestation.trailer()), ("Actor", actor.login)]
            subject = f"Migrate {doc_id} revision 1 (approved on paper): {parse_document(text).meta.title}"
            message = format_message(subject, reason, trailers)
            commit = self._commit(tree, [main_head], message, actor, sign=key.sign if key else None)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: migrate {doc_id} from paper")
        self.catalog.catch_up()
        self.signed(actor, commit, f"attestation of {doc_id} migrated from paper")
        return commit
