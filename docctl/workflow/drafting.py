"""Drafting: opening a change, editing its text, carrying it onto the current revision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..core import signing
from ..core.changes import Change, change_ref
from ..core.commits import format_message
from ..core.documents import (
    Metadata,
    canonical_text,
    decode_text,
    document_path,
    parse_document,
    split_front_matter,
    validate_document_id,
)
from ..core.errors import (
    Conflict,
    Invalid,
    MergeConflict,
    NotFound,
)
from ..core.figures import Figure
from ..derived.catalog import Revision
from ..stores.figure_trees import draft_figures
from ..stores.git import ZERO_SHA
from ..stores.replication import retried_when_the_remote_moved
from .base import MAIN, WorkflowBase, clean_reason, require_role
from .trailers import carry, change_trailers


class Drafting(WorkflowBase):
    """The verbs of a draft: create, edit, update onto the current revision."""

    @retried_when_the_remote_moved
    def create(
        self,
        actor: signing.Person,
        *,
        doc_id: str | None,
        markdown: str,
        reason: str,
        title: str | None = None,
        doc_type: str | None = None,
        unit: str | None = None,
        review_months: int | None = None,
        effective_date: date | None = None,
        figures: Sequence[Figure] = (),
    ) -> Change:
        """Open a change for a new document or a revision of the current one (with ``figures``:
        images its text shows, kept beside it — :mod:`docctl.core.figures`)."""
        require_role(actor, "author", "quality_manager")
        reason = clean_reason(reason)
        effective_date = self._check_effective(effective_date)
        policy = self.policy()
        with self.store.write_lock():
            main_head = self.store.head(MAIN)
            existing = None
            if doc_id:
                validate_document_id(doc_id)
                try:
                    existing = self.catalog.revisions(doc_id)[0]
                except NotFound:
                    existing = None
            if existing is not None:
                base_meta = Metadata(doc_id, existing.title, existing.type, existing.unit, existing.review_months)
                kind, base_revision = "revise", existing.revision
                if self.catalog.document(doc_id, self.today()).status == "obsolete":
                    raise Invalid("%(doc_id)s is obsolete; open a new document instead", doc_id=doc_id)
            else:
                if not doc_type or not unit or not (title or markdown.startswith("---")):
                    if not markdown.startswith("---"):
                        if doc_id:  # a revision of a document that does not exist
                            raise NotFound(
                                "no document %(doc_id)s: to open a new one, give a title, a type and a unit",
                                doc_id=doc_id,
                            )
                        raise Invalid("a new document needs a title, a type and a unit")
                if not doc_id:
                    doc_id = self._propose_id(policy, doc_type or "procedure")
                base_meta = Metadata(doc_id, title or "", doc_type or "", unit or "", review_months or 12)
                kind, base_revision = "new", 0
            text = self._compose(
                markdown, base_meta, policy, title=title, review_months=review_months, fixed=existing is not None
            )
            blob = self.store.write_blob(text.encode("utf-8"))
            files = {document_path(doc_id): blob, **draft_figures(self.store, doc_id, text, figures, [main_head])}
            tree = self.store.tree_with(self.store.commit(main_head).tree, files)
            number = self._next_number()
            meta = parse_document(text).meta
            trailers = change_trailers(
                number,
                "create",
                kind,
                "draft",
                doc_id,
                meta.title,
                reason,
                actor,
                main_head,
                base_revision,
                effective_date,
            )
            message = format_message(
                f"Change {number}: {'new document' if kind == 'new' else 'revise'} {doc_id}", reason, trailers
            )
            commit = self._commit(tree, [main_head], message, actor)
            self.store.update_refs([(change_ref(number), commit, ZERO_SHA)], reason=f"docctl: open change {number}")
        return self._changed(number)

    @retried_when_the_remote_moved
    def edit(
        self,
        actor: signing.Person,
        number: int,
        *,
        markdown: str,
        expected_head: str,
        reason: str | None = None,
        title: str | None = None,
        figures: Sequence[Figure] = (),
    ) -> Change:
        """Save a new draft text (and new figures); a stale ``expected_head`` is a Conflict
        carrying both versions."""
        with self.store.write_lock():
            change = self.get(number)
            self.ensure_may_edit(actor, change)
            if expected_head != change.head:
                raise Conflict(
                    "this change was edited by someone else since you opened it",
                    detail={"head": change.head, "yours": expected_head, "current_markdown": self.content(change)},
                )
            policy = self.policy()
            current = parse_document(self.content(change)).meta
            text = self._compose(markdown, current, policy, title=title, fixed=change.kind == "revise")
            blob = self.store.write_blob(text.encode("utf-8"))
            files = {
                document_path(change.doc_id): blob,
                **draft_figures(self.store, change.doc_id, text, figures, [change.head]),
            }
            tree = self.store.tree_with(self.store.commit(change.head).tree, files)
            new_reason = clean_reason(reason) if reason else change.reason
            state = "draft" if change.state == "draft" else change.state
            trailers = carry(change, "edit", state, actor, reason=new_reason, title=parse_document(text).meta.title)
            message = format_message(f"Change {number}: edit {change.doc_id}", "", trailers)
            commit = self._commit(tree, [change.head], message, actor)
            self.store.update_refs([(change_ref(number), commit, change.head)], reason=f"docctl: edit change {number}")
        return self._changed(number)

    @retried_when_the_remote_moved
    def update_to_current(
        self,
        actor: signing.Person,
        number: int,
        *,
        resolved_markdown: str | None = None,
        expected_head: str | None = None,
        onto_revision: int | None = None,
    ) -> Change:
        """Carry a change whose base is no longer current onto the current revision.

        Three-way merge with ``git merge-file`` (base = the revision the change started from) of
        the canonical texts, so line-ending and trailing-blank differences never conflict. A real
        conflict records nothing: :class:`MergeConflict` carries the merged text with both sides
        marked, and the author saves the resolution with ``resolved_markdown`` (plus the
        ``expected_head`` and ``onto_revision`` it was resolved against) — conflict markers are
        never committed (issue 17).
        """
        with self.store.write_lock():
            change = self.get(number)
            self.ensure_may_edit(actor, change)
            latest = self.catalog.revisions(change.doc_id)[0]
            if resolved_markdown is None:
                if latest.revision == change.base_revision:
                    raise Conflict("this change is already based on the current revision")
                text = self._merge_onto(change, latest)
            else:
                if expected_head != change.head:
                    raise Conflict("this change was edited by someone else since you opened it")
                if onto_revision != latest.revision:
                    raise Conflict(
                        "%(doc_id)s moved on to revision %(revision)s while you resolved the "
                        "conflict: update the change again",
                        detail={"current_revision": latest.revision},
                        doc_id=change.doc_id,
                        revision=latest.revision,
                    )
                current = parse_document(self.content(change)).meta
                text = self._compose(resolved_markdown, current, self.policy(), title=None, fixed=True)
            main_head = self.store.head(MAIN)
            blob = self.store.write_blob(text.encode("utf-8"))
            files = {
                document_path(change.doc_id): blob,
                **draft_figures(self.store, change.doc_id, text, (), [change.head, main_head]),
            }
            tree = self.store.tree_with(self.store.commit(main_head).tree, files)
            trailers = carry(change, "update", "draft", actor, base_commit=main_head, base_revision=latest.revision)
            body = f"Based now on revision {latest.revision}." + (
                " Conflicts resolved by the editor." if resolved_markdown is not None else ""
            )
            message = format_message(
                f"Change {number}: update onto {change.doc_id} revision {latest.revision}", body, trailers
            )
            commit = self._commit(tree, [change.head, main_head], message, actor)
            self.store.update_refs(
                [(change_ref(number), commit, change.head)], reason=f"docctl: update change {number}"
            )
        return self._changed(number)

    def _merge_onto(self, change: Change, latest: Revision) -> str:
        """The change's text merged onto ``latest``; MergeConflict (nothing written) on a conflict."""
        base = (
            decode_text(self.store.read_blob(self.catalog.revision(change.doc_id, change.base_revision).blob))
            if change.base_revision
            else ""
        )
        ours, theirs = self.content(change), decode_text(self.store.read_blob(latest.blob))
        labels = (f"change {change.number}", f"revision {change.base_revision}", f"revision {latest.revision}")
        merged_bytes, conflicts = self.store.merge_file(
            ours.encode("utf-8"), base.encode("utf-8"), theirs.encode("utf-8"), labels
        )
        merged = canonical_text(merged_bytes.decode("utf-8"))
        if not conflicts:
            return merged
        try:
            front, body, _ = split_front_matter(merged)
            editable = merged if "<<<<<<<" in front else body.lstrip("\n")
        except Invalid:
            editable = merged
        raise MergeConflict(
            "%(conflicts)s part(s) of the text were changed both in this change and in revision %(revision)s: "
            "both versions are marked in the editor; choose, then save",
            detail={
                "markdown": editable,
                "head": change.head,
                "onto_revision": latest.revision,
                "conflicts": conflicts,
            },
            conflicts=conflicts,
            revision=latest.revision,
        )
