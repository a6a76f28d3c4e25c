"""The change-control state machine: the only code that writes to the documents repository.

Every verb takes the person acting and, where a user edits, the head they based their work on.
It builds the new commit with plumbing, then moves the ref(s) with compare-and-swap; a release
moves the change branch and ``main`` in one atomic transaction. After ``main`` moves, the catalog
catches up and its listeners (search index) update — the after-commit hook of gollum-lib's
committer. States: draft → in_review → released; reject → draft; cancel ends it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from . import signing
from .catalog import Catalog, Revision
from .change_index import ChangeIndex
from .changes import KINDS, STEP_TRAILERS, Change, ChangeSummary, change_ref, read_events
from .clock import utc_now
from .documents import (
    Metadata,
    canonical_text,
    compose_document,
    decode_text,
    document_path,
    parse_document,
    refuse_conflict_markers,
    split_front_matter,
    validate_document_id,
    validate_metadata,
)
from .errors import (
    Conflict,
    DocctlError,
    Forbidden,
    Invalid,
    MergeConflict,
    NotFound,
    TooLarge,
    refuse_control_characters,
)
from .figure_trees import draft_figures, released_figures
from .figures import Figure, figure_folder
from .policy import POLICY_PATH, Policy, parse_policy
from .records import Signature
from .replication import retried_when_the_remote_moved
from .repo import ZERO_SHA, GitStore, Identity, bulk_load, format_message
from .visibility import may_see_change

MAIN = "refs/heads/main"
MAX_REASON = 2000


# More changes than this brought by one sync are re-indexed in bulk (one walk, not a read each).
ABSORB_ONE_BY_ONE = 20


class Workflow:
    """Drafts, review, signatures, release, withdrawal and periodic review — all as commits."""

    def __init__(
        self,
        store: GitStore,
        catalog: Catalog,
        *,
        check_password: Callable[[str, str], object],
        service: Identity,
        clock: Callable[[], datetime] = utc_now,
        timezone_name: str = "Europe/Warsaw",
        max_document_bytes: int = 512 * 1024,
        change_index: ChangeIndex | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.change_index = change_index or ChangeIndex(catalog.path)
        self.check_password = check_password
        self.service = service
        self.clock = clock
        self.tz = ZoneInfo(timezone_name)
        self.max_document_bytes = max_document_bytes
        self.change_listeners: list[Callable[[Change], None]] = []
        # Told only of steps taken on this node (e-mail), not of those a sync brings in.
        self.local_change_listeners: list[Callable[[Change], None]] = []
        # With a git remote: brings this node up to the remote before a step runs again.
        self.sync: Callable[[], object] | None = None
        self._policy: tuple[str, str, Policy] | None = None

    # -- time and policy ---------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def today(self) -> date:
        return self.now().date()

    def policy(self) -> Policy:
        """The policy in force: ``.docctl/policy.yaml`` on ``main``.

        Cached by ``main``'s head (a loose-ref read) and re-parsed only when the policy blob
        itself changes: parsing it on every request cost ~20 ms (profiled 2026-11).
        """
        head = self.store.head(MAIN)
        cached = self._policy
        if cached is not None and cached[0] == head:
            return cached[2]
        blob = self.store.blob_id(head, POLICY_PATH)
        policy = cached[2] if cached is not None and cached[1] == blob else parse_policy(self.store.read_blob(blob))
        self._policy = (head, blob, policy)
        return policy

    # -- reading changes ---------------------------------------------------------------------
    def list_changes(self, state: str | None = None, *, viewer: signing.Person | None = None) -> list[ChangeSummary]:
        """Changes newest first, from the change index (one SQL query, no git: issue 12); with
        ``viewer``, only those that person may see (issue 15)."""
        if viewer is None:
            return self.change_index.summaries(state)
        return self.change_index.summaries(state, visible=self._visible_to(viewer))

    def changes_page(
        self, state: str | None, *, viewer: signing.Person, page: int, per_page: int
    ) -> tuple[list[ChangeSummary], bool]:
        """One page of :meth:`list_changes` for ``viewer`` (newest first) and whether more follow."""
        return self.change_index.summaries_page(state, visible=self._visible_to(viewer), page=page, per_page=per_page)

    def _visible_to(self, viewer: signing.Person):
        policy = self.policy()
        return lambda change, doc_type, unit: may_see_change(viewer, change, doc_type, unit, policy)

    def open_changes(self) -> list[tuple[Change, str, str]]:
        """Open changes with their document's type and unit, enough for the signing rules."""
        return self.change_index.open_changes()

    def scope_of(self, number: int) -> tuple[Change, str, str] | None:
        """(change, document type, owning unit) from the change index, or from git when the
        index does not have it (yet); None when there is no such change."""
        found = self.change_index.one(number)
        if found is not None:
            return found
        try:
            change = self.get(number)
        except NotFound:
            return None
        try:
            meta = self.meta_of(change)
        except DocctlError:  # no readable front matter: only oversight and its author see it
            return change, "", ""
        return change, meta.type, meta.unit

    def rebuild_change_index(self) -> int:
        """Recreate the change index from the change refs alone (``docctl reindex``, start-up)."""
        return self.change_index.rebuild(self.change_index_rows())

    def change_index_rows(self) -> list[tuple[Change, str, str]]:
        """The change index's rows (change, document type, unit) as git has them, by number.

        One ``for-each-ref`` reads every head; only open changes (whose signers and editors the
        tasks need) are read whole, so closed history costs one commit read. 40,000 heads are
        held at once: no cyclic GC passes meanwhile (2.6 -> 1.9 s at 2,000 x 20).
        """
        with bulk_load():
            return self._change_index_rows()

    def _change_index_rows(self) -> list[tuple[Change, str, str]]:
        rows = []
        for ref, commit in self.store.ref_commits("refs/heads/changes/").items():
            number = ref.rsplit("/", 1)[1]
            if not number.isdigit():
                continue
            summary = ChangeSummary.from_head(int(number), commit)
            if summary.state in ("draft", "in_review"):
                rows.append(self._indexed(self.get(summary.number)))
            else:
                rows.append((Change(**summary.__dict__), "", ""))
        return sorted(rows, key=lambda row: row[0].number)

    def rebuild_change_trail(self) -> int:
        """Recreate the audit trail's rows for every step of every change, from git alone.

        One ``git log`` over all change branches (240,000 commits at 2,000 × 20, held slim:
        only the trailers events need); servers run it in the background. Rows written by
        live steps meanwhile are newer than this snapshot and are kept (see AuditTrail).
        """
        with bulk_load():  # hundreds of thousands of objects held: no cyclic GC passes meanwhile
            return self._rebuild_change_trail()

    def _rebuild_change_trail(self) -> int:
        trail = self.catalog.trail
        trail.forget_changes()
        head_commits = self.store.ref_commits("refs/heads/changes/")  # every trailer of each head
        steps = {
            c.sha: c
            for c, _ in self.store.walk([], change_branches=True, bodies=False, keep=STEP_TRAILERS)
            if c.trailer("State")
        }
        comments = self.store.commits([sha for sha, c in steps.items() if c.trailer("Action") in ("reject", "cancel")])
        units = self.catalog.units_by_document()
        changes = []
        for ref, head in head_commits.items():
            number, sha = ref.rsplit("/", 1)[1], head.sha
            if not number.isdigit() or sha not in steps:
                continue
            own, cursor = [], steps.get(sha)
            while cursor is not None and cursor.trailer("Change") == number:
                own.append(comments.get(cursor.sha, cursor))
                cursor = steps.get(cursor.parents[0]) if cursor.parents else None
            summary = ChangeSummary.from_head(int(number), head)
            changes.append((Change(**summary.__dict__, events=read_events(own[::-1])), units.get(summary.doc_id, "")))
        trail.add_changes(changes)
        return len(changes)

    def _indexed(self, change: Change) -> tuple[Change, str, str]:
        try:
            meta = self.meta_of(change)
        except (DocctlError, UnicodeDecodeError):
            return change, "", ""
        return change, meta.type, meta.unit

    def get(self, number: int) -> Change:
        """A change with its events: ``git log --first-parent BASE..changes/N``."""
        try:
            head = self.store.head(change_ref(_number(number)))
        except NotFound:
            raise NotFound("change %(number)s does not exist", number=number) from None
        head_commit = self.store.commit(head)
        summary = ChangeSummary.from_head(number, head_commit)
        # Only BASE..HEAD: the cost follows the change's length, not the repository's history.
        base = summary.base_commit if summary.base_commit and summary.base_commit != head else None
        commits = self.store.log(head, since=base, first_parent=True, reverse=True)
        own = [c for c in commits if c.trailer("Change") == str(number)]
        events = read_events(own)
        try:
            blob = self.store.blob_id(head, document_path(summary.doc_id)) if summary.kind != "withdraw" else ""
        except NotFound:
            blob = ""
        if summary.kind == "withdraw":
            blob = _first_content(events)
        return Change(**summary.__dict__, blob=blob, events=events)

    def content(self, change: Change) -> str:
        """The draft's full source (front matter + Markdown)."""
        if not change.blob:
            return ""
        return decode_text(self.store.read_blob(change.blob))

    # -- creating and editing ----------------------------------------------------------------
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
        images its text shows, kept beside it — :mod:`docctl.figures`)."""
        _require_role(actor, "author", "quality_manager")
        reason = _reason(reason)
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
            trailers = self._change_trailers(
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
            new_reason = _reason(reason) if reason else change.reason
            state = "draft" if change.state == "draft" else change.state
            trailers = self._carry(
                change, "edit", state, actor, reason=new_reason, title=parse_document(text).meta.title
            )
            message = format_message(f"Change {number}: edit {change.doc_id}", "", trailers)
            commit = self._commit(tree, [change.head], message, actor)
            self.store.update_refs([(change_ref(number), commit, change.head)], reason=f"docctl: edit change {number}")
        return self._changed(number)

    def figures_of(self, change: Change) -> list[str]:
        """The figure files a change's tree carries beside its document."""
        return sorted(self.store.folder(change.head, figure_folder(change.doc_id)))

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
        self.check_password(actor.login, password)
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
            trailers = self._carry(change, "approve", "in_review", actor) + [
                ("Signed-by", f"{actor.name} <{actor.email}>"),
                ("Signature-Meaning", requirement.meaning),
                ("Role", requirement.role),
                ("Content", content),
                ("Signature", signature.trailer()),
            ]
            message = format_message(
                f"Change {number}: {requirement.meaning} signed by {actor.name}", comment, trailers
            )
            signed = self._commit(self.store.commit(change.head).tree, [change.head], message, actor)
            updated = self._reread(change, signed)
            if signing.outstanding(policy, meta.type, meta.unit, updated):
                self.store.update_refs(
                    [(change_ref(number), signed, change.head)], reason=f"docctl: sign change {number}"
                )
            else:
                self._release(updated, signed, change.head, actor)
        self.catalog.catch_up()  # after-commit: catalog, then its listeners (search index)
        changed = self._changed(number)
        if changed.state == "released":
            self._upkeep()
        return changed

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
            trailers = self._carry(
                change, "update", "draft", actor, base_commit=main_head, base_revision=latest.revision
            )
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

    # -- withdrawal and periodic review ------------------------------------------------------
    @retried_when_the_remote_moved
    def withdraw(self, actor: signing.Person, doc_id: str, *, reason: str) -> Change:
        """Open a withdrawal (obsolete) change, submitted for the same signatures as a release."""
        _require_role(actor, "author", "quality_manager")
        validate_document_id(doc_id)
        reason = _reason(reason)
        state = self.catalog.document(doc_id, self.today())
        if state.status == "obsolete":
            raise Conflict("%(doc_id)s is already obsolete", doc_id=doc_id)
        latest = state.latest
        with self.store.write_lock():
            self._no_open_change(doc_id, kind="withdraw")
            main_head = self.store.head(MAIN)
            tree = self.store.tree_with(self.store.commit(main_head).tree, {document_path(doc_id): None})
            number = self._next_number()
            trailers = self._change_trailers(
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
        _require_role(actor, "quality_manager")
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
        with self.store.write_lock():
            validate_document_id(doc_id)
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
            commit = self._commit(tree, [main_head], format_message(subject, reason, trailers), actor)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: migrate {doc_id} from paper")
        self.catalog.catch_up()
        return commit

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
            commit = self._commit(self.store.commit(main_head).tree, [main_head], message, actor)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: review {doc_id}")
        self.catalog.catch_up()
        return commit

    @retried_when_the_remote_moved
    def add_unit(self, actor: signing.Person, code: str, name: str) -> str:
        """Add an organizational unit: a recorded ``Action: policy`` commit on ``main``."""
        with self.store.write_lock():
            main_head = self.store.head(MAIN)
            policy = self.policy().with_unit(code, name)
            blob = self.store.write_blob(policy.to_yaml().encode("utf-8"))
            tree = self.store.tree_with(self.store.commit(main_head).tree, {POLICY_PATH: blob})
            message = format_message(
                f"Policy: add unit {code} ({name})", "", [("Action", "policy"), ("Actor", actor.login)]
            )
            commit = self._commit(tree, [main_head], message, actor)
            self.store.update_refs([(MAIN, commit, main_head)], reason=f"docctl: add unit {code}")
        self.catalog.catch_up()
        return commit

    @retried_when_the_remote_moved
    def initialize(self, actor: signing.Person, policy: Policy) -> str:
        """The first commit on ``main``: the policy file, ``Action: init``."""
        blob = self.store.write_blob(policy.to_yaml().encode("utf-8"))
        tree = self.store.tree_with(None, {POLICY_PATH: blob})
        message = format_message("Initialize document control", "", [("Action", "init"), ("Actor", actor.login)])
        commit = self._commit(tree, [], message, actor)
        self.store.update_refs([(MAIN, commit, ZERO_SHA)], reason="docctl: init")
        self.catalog.catch_up()
        return commit

    # -- internals ---------------------------------------------------------------------------
    def _release(self, change: Change, signed: str, old_change_head: str, actor: signing.Person) -> None:
        main_head = self.store.head(MAIN)
        now = self.now()
        effective = max(change.effective_date or now.date(), now.date())
        withdraw = change.kind == "withdraw"
        revision = change.base_revision if withdraw else change.base_revision + 1
        marker_trailers = self._carry(change, "release", "released", actor)
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

    def _step(self, change: Change, action: str, state: str, actor: signing.Person, comment: str) -> str:
        trailers = self._carry(change, action, state, actor)
        message = format_message(f"Change {change.number}: {action}", comment, trailers)
        commit = self._commit(self.store.commit(change.head).tree, [change.head], message, actor)
        self.store.update_refs(
            [(change_ref(change.number), commit, change.head)], reason=f"docctl: {action} change {change.number}"
        )
        return commit

    def _upkeep(self) -> None:
        """After a release, let git pack the repository when loose objects have piled up
        (issue 12: years of releases left hundreds of thousands of loose objects). Best effort:
        a busy repository or a failed gc never fails the release that already landed."""
        try:
            self.store.maintain()
        except (Conflict, DocctlError):
            logging.getLogger("docctl").warning("repository upkeep skipped", exc_info=True)

    def _commit(self, tree: str, parents: list[str], message: str, actor: signing.Person) -> str:
        return self.store.commit_tree(
            tree, parents, message, author=Identity(actor.name, actor.email), committer=self.service, when=self.now()
        )

    def _change_trailers(
        self, number, action, kind, state, doc_id, title, reason, actor, base_commit, base_revision, effective_date
    ) -> list[tuple[str, str]]:
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

    def _carry(
        self,
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

    def _reread(self, change: Change, new_head: str) -> Change:
        commit = self.store.commit(new_head)
        events = change.events + read_events([commit])  # a signature voids nothing before it
        summary = ChangeSummary.from_head(change.number, commit)
        return Change(**summary.__dict__, blob=change.blob, events=events)

    def _changed(self, number: int) -> Change:
        # Re-read and index under the write lock: whichever writer indexes last reads the
        # branch's current head, so the index never keeps an older state of the change.
        with self.store.write_lock():
            change = self.get(number)
            indexed = self._indexed(change)
            self.change_index.record(*indexed)
            unit = indexed[2] or self.catalog.units_by_document([change.doc_id]).get(change.doc_id, "")
            self.catalog.trail.record_change(change, unit)
        for listener in (*self.change_listeners, *self.local_change_listeners):
            listener(change)
        return change

    def absorb(self, numbers: list[int]) -> None:
        """Changes another node moved (a sync brought them): indexed like local steps, without
        the local-only listeners (that node already sent its e-mails). Many at once — a node
        catching up hours of work — are read in bulk, like ``docctl reindex`` does."""
        if len(numbers) > ABSORB_ONE_BY_ONE:
            with self.store.write_lock():
                self.rebuild_change_index()
                self.rebuild_change_trail()
            found = (self.change_index.one(n) for n in numbers)
            moved = [scoped[0] for scoped in found if scoped and scoped[0].state in ("draft", "in_review")]
            moved = [self.get(change.number) for change in moved]
        else:
            moved = []
            with self.store.write_lock():
                for number in numbers:
                    change = self.get(number)
                    indexed = self._indexed(change)
                    self.change_index.record(*indexed)
                    unit = indexed[2] or self.catalog.units_by_document([change.doc_id]).get(change.doc_id, "")
                    self.catalog.trail.record_change(change, unit)
                    moved.append(change)
        for change in moved:
            for listener in self.change_listeners:
                listener(change)

    def meta_of(self, change: Change) -> Metadata:
        return parse_document(self.content(change)).meta

    def may_edit(self, actor: signing.Person, change: Change) -> bool:
        try:
            self.ensure_may_edit(actor, change)
        except (Conflict, Forbidden):
            return False
        return True

    def ensure_may_edit(self, actor: signing.Person, change: Change) -> None:
        """Conflict when the change can no longer be edited; Forbidden when ``actor`` may not."""
        if change.state not in ("draft", "in_review"):
            raise Conflict(
                "change %(number)s is %(state)s and can no longer be edited", number=change.number, state=change.state
            )
        if change.kind == "withdraw":
            raise Conflict("a withdrawal has no text to edit")
        if (
            actor.login != change.author_login
            and "quality_manager" not in actor.roles
            and not ("author" in actor.roles and self.meta_of(change).unit in actor.units)
        ):
            raise Forbidden("only the author, an author of the same unit or a quality manager can edit this change")

    def _compose(
        self,
        markdown: str,
        base: Metadata,
        policy: Policy,
        *,
        title: str | None,
        review_months: int | None = None,
        fixed: bool,
    ) -> str:
        if len(markdown.encode("utf-8")) > self.max_document_bytes:
            raise TooLarge(
                "the document is larger than %(max_document_bytes)s bytes", max_document_bytes=self.max_document_bytes
            )
        markdown = canonical_text(markdown)
        refuse_control_characters(markdown, "the document")
        refuse_conflict_markers(markdown)
        if markdown.lstrip().startswith("---"):
            parsed = parse_document(markdown.lstrip(), units=policy.units)
            meta, body = parsed.meta, parsed.body
            if fixed and (meta.id, meta.type, meta.unit) != (base.id, base.type, base.unit):
                raise Invalid("a revision keeps its document's id, type and unit")
            if meta.id != base.id:
                raise Invalid("front matter id %(id)s does not match the document %(id2)s", id=meta.id, id2=base.id)
        else:
            data = base.as_dict()
            if title:
                data["title"] = title
            if review_months:
                data["review_months"] = review_months
            meta, body = validate_metadata(data, units=policy.units), markdown
        if not body.strip():
            raise Invalid("the document has no text")
        return compose_document(meta, body)

    def _check_effective(self, effective: date | None) -> date | None:
        if effective is not None and effective < self.today():
            raise Invalid("the effective date cannot lie in the past")
        return effective

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

    def _next_number(self) -> int:
        # The index answers without listing every change ref; a ref it has not seen yet (a
        # writer that died before indexing) is skipped by a single ref read.
        number = self.change_index.max_number() + 1
        while self.store.has_ref(change_ref(number)):
            number += 1
        return number

    def _propose_id(self, policy: Policy, doc_type: str) -> str:
        prefix = policy.types[doc_type].prefix if doc_type in policy.types else "D"
        taken = set(self.catalog.known_ids()) | self.change_index.document_ids()
        pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
        numbers = [int(m.group(1)) for i in taken if (m := pattern.fullmatch(i))]
        return f"{prefix}-{max(numbers, default=0) + 1:02d}"

    def propose_id(self, doc_type: str) -> str:
        return self._propose_id(self.policy(), doc_type)


def _number(number: object) -> int:
    try:
        value = int(number)
    except (TypeError, ValueError):
        raise Invalid("invalid change number %(number)s", number=repr(str(number)[:20])) from None
    if value < 1:
        raise Invalid("change numbers start at 1")
    return value


def _reason(reason: str | None) -> str:
    reason = " ".join(refuse_control_characters(reason or "", "the reason").split())
    if not reason:
        raise Invalid("a reason for the change is required")
    if len(reason) > MAX_REASON:
        raise Invalid("the reason is longer than %(MAX_REASON)s characters", MAX_REASON=MAX_REASON)
    return reason


def _require_role(actor: signing.Person, *roles: str) -> None:
    if not set(roles) & set(actor.roles):
        raise Forbidden("this needs one of the roles: %(value)s", value=", ".join(roles))


def _first_content(events) -> str:
    for event in events:
        if event.content:
            return event.content
    return ""
