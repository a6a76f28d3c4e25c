"""What the pages and the JSON API show, assembled from the catalog, git and the render cache.

Views call one function here and render the result; nothing here knows about HTTP. Reading a
document touches one catalog query and, on a render-cache miss only, one blob read — never a
history walk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from . import signing
from .catalog import DocumentState, Revision
from .changes import ChangeSummary
from .documents import split_front_matter
from .errors import DocctlError, Invalid, NotFound
from .instance import Instance
from .redline import redline_html, unified_diff
from .render import Rendered


@dataclass(frozen=True)
class DocumentPage:
    state: DocumentState
    revision: Revision
    load_markdown: Callable[[], str]
    rendered: Rendered
    is_current: bool

    @property
    def markdown(self) -> str:
        """The source, read from git only when asked (the HTML page does not need it)."""
        return self.load_markdown()

    def as_json(self) -> dict:
        rev, state = self.revision, self.state
        data = {
            "id": rev.doc_id,
            "title": rev.title,
            "type": rev.type,
            "unit": rev.unit,
            "revision": rev.revision,
            "effective_date": rev.effective_date.isoformat(),
            "released_at": rev.released_at.isoformat(),
            "status": state.status if self.is_current else "superseded",
            "review_due": state.review_due.isoformat() if state.review_due else None,
            "prepared_by": rev.prepared_by,
            "change_reason": rev.reason,
            "markdown": self.markdown,
            "html": self.rendered.html,
            "approvals": [s.as_json() for s in rev.signatures],
        }
        if state.pending is not None:
            data["pending"] = {
                "revision": state.pending.revision,
                "effective_date": state.pending.effective_date.isoformat(),
            }
        return data


class Reader:
    """Read views over one instance; ``link_prefix`` is where document links point (script root)."""

    def __init__(self, instance: Instance, link_prefix: str = "") -> None:
        self.instance = instance
        self.link_prefix = link_prefix.rstrip("/")
        self._known: tuple[str | None, frozenset[str]] = (None, frozenset())

    # -- documents ---------------------------------------------------------------------------
    def document(self, doc_id: str, at: date | None = None) -> DocumentPage:
        """The revision in force (or, for an obsolete document, the last one, marked so)."""
        at = at or self.instance.today()
        state = self.instance.catalog.document(doc_id, at)
        return self._page(
            state,
            state.shown,
            is_current=state.current is not None
            and state.shown.revision == state.current.revision
            and state.status != "obsolete",
        )

    def revision(self, doc_id: str, number: int, at: date | None = None) -> DocumentPage:
        at = at or self.instance.today()
        state = self.instance.catalog.document(doc_id, at)
        rev = self.instance.catalog.revision(doc_id, number)
        is_current = state.current is not None and rev.revision == state.current.revision and state.status != "obsolete"
        return self._page(state, rev, is_current=is_current)

    def history(self, doc_id: str, at: date | None = None) -> tuple[DocumentState, list[Revision]]:
        at = at or self.instance.today()
        return self.instance.catalog.document(doc_id, at), self.instance.catalog.revisions(doc_id)

    def diff(self, doc_id: str, old: int, new: int) -> dict:
        if old == new:
            raise Invalid("choose two different revisions to compare")
        catalog = self.instance.catalog
        a, b = catalog.revision(doc_id, old), catalog.revision(doc_id, new)
        with self.instance.store.reader() as reader:
            text_a = reader.blob(a.blob).decode("utf-8")
            text_b = reader.blob(b.blob).decode("utf-8")
        return {
            "from": old,
            "to": new,
            "unified": unified_diff(text_a, text_b, from_label=f"{doc_id} rev. {old}", to_label=f"{doc_id} rev. {new}"),
            "html": redline_html(_body(text_a), _body(text_b)),
        }

    def master_list(
        self,
        at: date | None = None,
        *,
        doc_type: str | None = None,
        unit: str | None = None,
        include_obsolete: bool = False,
    ) -> list[DocumentState]:
        states = self.instance.catalog.master_list(at or self.instance.today(), include_obsolete=include_obsolete)
        return [s for s in states if (not doc_type or s.shown.type == doc_type) and (not unit or s.shown.unit == unit)]

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, user) -> dict:
        """The home page: drafts to finish, changes to sign, reviews due, documents to confirm."""
        workflow = self.instance.workflow
        today = self.instance.today()
        policy = workflow.policy()
        open_changes = [s for s in workflow.list_changes() if s.state in ("draft", "in_review")]
        drafts = [s for s in open_changes if s.author_login == user.login]
        to_sign = []
        for summary in open_changes:
            if summary.state != "in_review":
                continue
            change = workflow.get(summary.number)
            try:
                meta = workflow.meta_of(change)
                signing.requirement_for_signer(policy, meta.type, meta.unit, change, user)
            except DocctlError:  # not this person's to sign
                continue
            to_sign.append(summary)
        reviews = self.reviews_due(user=user)
        return {"drafts": drafts, "to_sign": to_sign, "reviews": reviews, "today": today}

    def reviews_due(self, *, user=None, unit: str | None = None) -> list[DocumentState]:
        """Documents whose periodic review is overdue or due within REVIEW_DUE_SOON_DAYS."""
        today = self.instance.today()
        horizon = today + timedelta(days=int(self.instance.settings["REVIEW_DUE_SOON_DAYS"]))
        policy = self.instance.workflow.policy()
        due = []
        for state in self.master_list(today, unit=unit):
            if state.review_due is None or state.review_due > horizon or state.current is None:
                continue
            if user is not None and not any(
                signing.can_fulfil(user, r, state.current.unit) for r in policy.requirements_for(state.current.type)
            ):
                continue
            due.append(state)
        return sorted(due, key=lambda s: s.review_due)

    def changes(self, state: str | None = None) -> list[ChangeSummary]:
        return self.instance.workflow.list_changes(state)

    # -- internals ---------------------------------------------------------------------------
    def known_ids(self) -> frozenset[str]:
        head = self.instance.catalog.recorded_commit()
        if self._known[0] != head or head is None:
            self._known = (head, self.instance.catalog.known_ids())
        return self._known[1]

    def render(self, blob: str, text_loader) -> Rendered:
        known = self.known_ids()
        links_key = hashlib.sha256((self.link_prefix + "\n" + "\n".join(sorted(known))).encode()).hexdigest()
        prefix = self.link_prefix
        return self.instance.render_cache.get_or_render(
            blob,
            lambda: _body(text_loader()),
            known_ids=known,
            url_for_id=lambda doc_id: f"{prefix}/documents/{doc_id}",
            links_key=links_key,
        )

    def _page(self, state: DocumentState, rev: Revision, *, is_current: bool) -> DocumentPage:
        if not rev.blob:
            raise NotFound(f"{rev.doc_id} revision {rev.revision} has no content")
        store, cell = self.instance.store, {}

        def load() -> str:
            if "text" not in cell:
                cell["text"] = store.read_blob(rev.blob).decode("utf-8")
            return cell["text"]

        return DocumentPage(state, rev, load, self.render(rev.blob, load), is_current)


def _body(text: str) -> str:
    try:
        return split_front_matter(text)[1].lstrip("\n")
    except Invalid:
        return text
