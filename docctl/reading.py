"""What the pages and the JSON API show, assembled from the catalog, git and the render cache.

Views call one function here and render the result; nothing here knows about HTTP. Reading a
document touches one catalog query and, on a render-cache miss only, one blob read — never a
history walk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from .audit.readership import ConfirmationReport, confirmation_report, may_see_confirmations, to_confirm
from .audit.reviews import due_by_kind, review_scope, reviews_due
from .core import signing
from .core.changes import Change, ChangeSummary
from .core.documents import Metadata, decode_text, parse_document, split_front_matter
from .core.errors import Conflict, DocctlError, Forbidden, Invalid, NotFound
from .core.figures import Figure, figure_path
from .core.flight import OneBuilder
from .core.redline import redline_html, unified_diff
from .core.render import LinkTargets, Rendered, render_markdown
from .core.visibility import may_see_change
from .derived.audit_trail import TrailEvent, TrailQuery, trail_page
from .derived.catalog import DocumentState, Revision
from .ops.instance import Instance
from .workflow import require_visible

REGISTERS_KEPT = 8
DIFFS_KEPT = 256  # redlines kept, ~10-50 KB each
CHANGES_PER_PAGE = 50  # the change list, newest first


# A page of the register: a county's 20,000 documents are read a page (and a filter) at a time,
# with the count shown (issue 33), on the page and through ``GET /api/v1/documents?page=``.
REGISTER_PAGE = 100


@dataclass(frozen=True)
class Paged:
    """One page of a long list: its rows, where they start (1-based), which page of how many."""

    rows: list
    first: int
    page: int
    pages: int
    total: int

    @property
    def more(self) -> bool:
        return self.page < self.pages


def paged(items: list, page: int, size: int | None = None) -> Paged:
    """Page ``page`` of ``items`` (past the end: the last page), :data:`REGISTER_PAGE` a page."""
    size = size or REGISTER_PAGE
    pages = max((len(items) + size - 1) // size, 1)
    shown = min(max(page, 1), pages)
    first = (shown - 1) * size
    return Paged(items[first : first + size], first + 1, shown, pages, len(items))


@dataclass(frozen=True)
class DocumentPage:
    state: DocumentState
    revision: Revision
    load_markdown: Callable[[], str]
    rendered: Rendered

    @property
    def status(self) -> str:
        """``effective``, ``approved``, ``superseded`` or ``obsolete``: badge, banner and API agree."""
        return self.state.status_of(self.revision)

    @property
    def is_current(self) -> bool:
        return self.status == "effective"

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
            "status": self.status,
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
        if self.status == "obsolete":
            data["withdrawn"] = {"on": state.withdrawn_on.isoformat(), "reason": state.withdraw_reason}
        return data


@dataclass(frozen=True)
class ChangePage:
    """A change as its page shows it: text, redline, who may still sign it, what this person may do."""

    change: Change
    text: str
    meta: Metadata | None
    diff: dict | None
    preview: Rendered | None
    needed: list  # [(Requirement, [people who could sign it now])]
    stale: bool
    can_sign: bool
    can_reject: bool
    can_edit: bool

    @property
    def blocked(self) -> list:
        """Signatures still needed that nobody can give: a dead end someone must resolve."""
        return [req for req, people in self.needed if not people] if self.change.state == "in_review" else []


class Reader:
    """Read views over one instance; ``link_prefix`` is where document links point (script root)."""

    def __init__(self, instance: Instance, link_prefix: str = "") -> None:
        self.instance = instance
        self.link_prefix = link_prefix.rstrip("/")
        self._links: tuple[tuple | None, LinkTargets] = (None, LinkTargets())
        self._states: dict[tuple, list[DocumentState]] = {}
        self._lock = threading.Lock()
        self._builders = OneBuilder()  # a register is built by one thread, the others wait
        self._unit_groups: tuple[tuple, dict[str, list[DocumentState]]] | None = None
        self._due: tuple[tuple, dict[tuple[str, str], list[DocumentState]]] | None = None
        self._verified: tuple[tuple, object] | None = None
        self._unit_map: tuple[tuple, dict[str, str], dict[str, frozenset[str]]] | None = None
        self._diffs: OrderedDict[tuple, dict] = OrderedDict()

    # -- auditors ----------------------------------------------------------------------------
    def audit_events(self, query: TrailQuery) -> tuple[list[TrailEvent], bool]:
        """One page of the audit trail (newest first) and whether there is a next page."""
        inst = self.instance
        names = {p.login: p.name for p in inst.users.list()}
        self._units()
        _, units, by_unit = self._unit_map
        return trail_page(
            inst.catalog.trail, inst.acks, query, units=units, names=names, accounts=inst.users, unit_documents=by_unit
        )

    def _units(self) -> dict[str, str]:
        """Each document's owning unit, from the register cached per (main head, day): reading
        it from every release record cost 70 ms a page at 2,000 × 20. Kept beside it: each
        unit's documents (a unit's trail listed them from the 20,000 at every page: 8 ms)."""
        key = self.register_key()
        cached = self._unit_map
        if cached is None or cached[0] != key:
            units = {s.doc_id: s.shown.unit for s in self._register(key[1])}
            by_unit: dict[str, set[str]] = {}
            for doc_id, unit in units.items():
                by_unit.setdefault(unit, set()).add(doc_id)
            cached = self._unit_map = (key, units, {unit: frozenset(ids) for unit, ids in by_unit.items()})
        return cached[1]

    def audit_complete(self) -> bool:
        """False while a server reads the change steps of a long history in the background."""
        return self.instance.catalog.trail.changes_built()

    def audit_export(self, query: TrailQuery):
        """Every event matching ``query`` (CSV export): the trail, then read confirmations."""
        self.instance.catalog.catch_up()
        return self.instance.catalog.trail.iter_events(query)

    def verification(self, *, run: bool):
        """The last verification report while nothing was written since, or a new one with ``run``.

        Verification walks the whole history (seconds at 2,000 × 20), so a page shows the
        report made for the current state of the repository and runs again only when asked.
        """
        key = (self.instance.store.head(), self.instance.catalog.trail.last_row())
        if self._verified is not None and self._verified[0] == key:
            return self._verified[1]
        if not run:
            return None
        report = self.instance.verify()
        self._verified = (key, report)
        return report

    # -- read confirmations ------------------------------------------------------------------
    def confirmations(self, person, doc_id: str, unit: str | None = None) -> ConfirmationReport:
        """Who has and has not confirmed the revision of ``doc_id`` in force (Forbidden unless
        ``person`` may see that unit's confirmations; Conflict when nothing is in force)."""
        state = self.instance.catalog.document(doc_id, self.instance.today())
        owner = state.shown.unit
        if not may_see_confirmations(person, owner):
            raise Forbidden(
                "read confirmations of %(doc_id)s are for quality managers, auditors and approvers of %(owner)s",
                doc_id=doc_id,
                owner=owner,
            )
        report = confirmation_report(
            state, self.instance.users.list(), self.instance.acks.for_document(doc_id), unit=unit
        )
        if report is None:
            raise Conflict("%(doc_id)s has no revision in force to confirm", doc_id=doc_id)
        return report

    def unit_confirmations(self, person, unit: str) -> list[ConfirmationReport]:
        """The report for every document in force owned by ``unit``."""
        if not may_see_confirmations(person, unit):
            raise Forbidden(
                "read confirmations of unit %(unit)s are for quality managers, auditors and its approvers", unit=unit
            )
        states = [s for s in self._register(self.instance.today()) if s.current is not None and s.current.unit == unit]
        acks = self.instance.acks.for_documents([s.doc_id for s in states])
        people = self.instance.users.list()
        reports = [confirmation_report(s, people, [a for a in acks if a.document_id == s.doc_id]) for s in states]
        return [r for r in reports if r is not None]

    # -- documents ---------------------------------------------------------------------------
    def document(self, doc_id: str, at: date | None = None) -> DocumentPage:
        """The revision in force (or, for an obsolete document, the last one, marked so)."""
        at = at or self.instance.today()
        state = self.instance.catalog.document(doc_id, at)
        return self._page(state, state.shown)

    def revision(self, doc_id: str, number: int, at: date | None = None) -> DocumentPage:
        at = at or self.instance.today()
        state = self.instance.catalog.document(doc_id, at)
        return self._page(state, self.instance.catalog.revision(doc_id, number))

    def figure(self, doc_id: str, name: str, person) -> Figure:
        """A figure of ``doc_id``: from one of its released revisions, else from an open change
        of it that ``person`` may see (a draft's figures are as private as its text)."""
        path = figure_path(doc_id, name)
        store, workflow = self.instance.store, self.instance.workflow
        try:
            released = [r.commit for r in self.instance.catalog.revisions(doc_id)]
        except NotFound:
            released = []
        policy = workflow.policy()
        drafts = [
            change.head
            for change, doc_type, unit in workflow.open_changes()
            if change.doc_id == doc_id and may_see_change(person, change, doc_type, unit, policy)
        ]
        with store.reader() as git:  # one cat-file process, not a subprocess per revision
            for commit in released + drafts:
                try:
                    return Figure(name, store.read_blob(git.blob_id_at(commit, path)))
                except NotFound:
                    continue
        raise NotFound("%(doc_id)s has no figure %(name)s", doc_id=doc_id, name=name)

    def revisions(self, doc_id: str) -> list[Revision]:
        """Every released revision, newest first (the change record)."""
        return self.instance.catalog.revisions(doc_id)

    def history(self, doc_id: str, at: date | None = None) -> tuple[DocumentState, list[Revision]]:
        at = at or self.instance.today()
        return self.instance.catalog.document(doc_id, at), self.instance.catalog.revisions(doc_id)

    def diff(self, doc_id: str, old: int, new: int) -> dict:
        """Two released revisions compared; kept by their blobs, which never change (a redline
        of two procedures takes ~25 ms, whatever the history)."""
        catalog = self.instance.catalog
        a, b = catalog.revision(doc_id, old), catalog.revision(doc_id, new)
        key = (doc_id, old, new, a.blob, b.blob)
        with self._lock:
            found = self._diffs.get(key)
        if found is None:
            found = self._diff(doc_id, old, new, a, b)
            with self._lock:
                self._diffs[key] = found
                while len(self._diffs) > DIFFS_KEPT:
                    self._diffs.popitem(last=False)
        return dict(found)

    def _diff(self, doc_id: str, old: int, new: int, a, b) -> dict:
        store = self.instance.store
        text_a, text_b = decode_text(store.read_blob(a.blob)), decode_text(store.read_blob(b.blob))
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
        states = self._register(at or self.instance.today())
        return [
            s
            for s in states
            if (include_obsolete or s.status != "obsolete")
            and (not doc_type or s.shown.type == doc_type)
            and (not unit or s.shown.unit == unit)
        ]

    def register_key(self, at: date | None = None) -> tuple:
        """What the register depends on: ``main``'s head (after catching up) and the day."""
        return (self.instance.catalog.current_head(), at or self.instance.today())

    def _register(self, at: date) -> list[DocumentState]:
        """Every document's state on ``at``, computed once per (``main`` head, day) and shared by
        the master list, my tasks (reviews due) and document links (issue 12)."""
        key = self.register_key(at)
        if key[0] is None:
            return self.instance.catalog.master_list(at, include_obsolete=True)
        states = self._states.get(key)
        if states is not None:
            return states
        # After a release every thread's next request found the register missing and built its
        # own (50 MB of objects each at 20,000 documents): one builds it now, the others wait.
        with self._builders.turn(key):
            states = self._states.get(key)
            if states is None:
                states = self.instance.catalog.master_list(at, include_obsolete=True)
                # A few days kept (today and the dates auditors look at): one slot made each
                # "as of" request evict today's register, and the next page rebuild it (issue 18).
                with self._lock:
                    self._states[key] = states
                    while len(self._states) > REGISTERS_KEPT:
                        self._states.pop(next(iter(self._states)))
        return states

    def _by_unit(self) -> dict[str, list[DocumentState]]:
        """Today's documents in force grouped by owning unit (``""``: policies, for everyone)."""
        key = self.register_key()
        cached = self._unit_groups
        if cached is None or cached[0] != key:
            groups: dict[str, list[DocumentState]] = {}
            for state in self._register(key[1]):
                if state.current is not None and state.status == "effective":
                    unit = "" if state.current.type == "policy" else state.current.unit
                    groups.setdefault(unit, []).append(state)
            cached = self._unit_groups = (key, groups)
        return cached[1]

    # -- changes ---------------------------------------------------------------------------
    def change_page(self, number: int, person) -> ChangePage:
        workflow = self.instance.workflow
        require_visible(workflow, number, person)
        change = workflow.get(number)
        text = workflow.content(change)
        meta = parse_document(text).meta if text else None
        diff = None
        if change.kind in ("revise", "withdraw"):
            try:
                base = self.revision(change.doc_id, change.base_revision)
            except DocctlError:
                base = None
            if base is not None:
                diff = {
                    "html": redline_html(_body(base.markdown), _body(text)),
                    "unified": unified_diff(
                        base.markdown,
                        text,
                        from_label=f"revision {change.base_revision}",
                        to_label=f"change {change.number}",
                    ),
                }
        policy = workflow.policy()
        needed, can_sign, can_reject = [], False, False
        if meta is not None and change.state == "in_review":
            needed = signing.eligible_signers(policy, meta.type, meta.unit, change, self.instance.users.list())
            can_sign = signing.may_sign(policy, meta.type, meta.unit, change, person)
            can_reject = signing.may_reject_now(policy, meta.type, meta.unit, change, person)
        return ChangePage(
            change=change,
            text=text,
            meta=meta,
            diff=diff,
            preview=self.render(change.blob, lambda: text) if change.blob and change.kind != "withdraw" else None,
            needed=needed,
            stale=self._stale(change),
            can_sign=can_sign,
            can_reject=can_reject,
            can_edit=workflow.may_edit(person, change),
        )

    def change_json(self, number: int) -> dict:
        """``GET /api/v1/changes/<N>``: the change with its text — ``markdown`` (the whole file,
        front matter included, as an editor saves it back with ``PUT``) and ``html`` (its body
        rendered as the document page will show it), so a script can edit a draft it did not write."""
        workflow = self.instance.workflow
        change = workflow.get(number)
        data = change.as_json()
        text = workflow.content(change) if change.blob else ""
        data["markdown"] = text
        data["html"] = self.render(change.blob, lambda: text).html if change.blob and change.kind != "withdraw" else ""
        return data

    def _stale(self, change: Change) -> bool:
        if change.kind == "new" or change.state not in ("draft", "in_review"):
            return False
        try:
            return self.instance.catalog.revisions(change.doc_id)[0].revision != change.base_revision
        except DocctlError:
            return False

    # -- tasks -------------------------------------------------------------------------------
    def tasks(self, user) -> dict:
        """The home page: drafts to finish, changes to sign, documents to confirm (reviews due:
        :meth:`reviews_due`, shared by everyone with the same review scope)."""
        workflow = self.instance.workflow
        today = self.instance.today()
        policy = workflow.policy()
        # From the change index alone (issue 12: no git subprocess, whatever the history).
        open_changes = workflow.open_changes()
        drafts = [c for c, _, _ in open_changes if c.author_login == user.login]
        to_sign, blocked = [], []
        people = None
        for change, doc_type, unit in open_changes:
            if change.state != "in_review":
                continue
            if signing.may_sign(policy, doc_type, unit, change, user):
                to_sign.append(change)
            elif change.author_login == user.login or "quality_manager" in user.roles:
                people = self.instance.users.list() if people is None else people
                if any(not who for _, who in signing.eligible_signers(policy, doc_type, unit, change, people)):
                    blocked.append(change)
        confirmed = {(a.document_id, a.revision) for a in self.instance.acks.for_user(user.login)}
        groups = self._by_unit()
        mine = [s for unit in ("", *sorted(user.units)) for s in groups.get(unit, ())]
        unread = to_confirm(user, sorted(mine, key=lambda s: s.doc_id), confirmed)
        return {
            "drafts": drafts,
            "to_sign": to_sign,
            "blocked": blocked,
            "to_confirm": unread,
            "today": today,
        }

    def reviews_due(self, *, user=None, unit: str | None = None) -> list[DocumentState]:
        """Documents whose periodic review is overdue or due within REVIEW_DUE_SOON_DAYS, most
        urgent first; with ``user``, only those that person may review."""
        return reviews_due(self._due_by_kind(), self.review_scope(user), unit)

    def review_scope(self, user=None) -> tuple[tuple[str, str], ...]:
        """The (type, owning unit) pairs with reviews due today that ``user`` may review (all
        with None): people with the same scope see the same list."""
        return review_scope(self._due_by_kind(), self.instance.workflow.policy(), user)

    def _due_by_kind(self) -> dict[tuple[str, str], list[DocumentState]]:
        """Reviews due, grouped by (type, owning unit) and sorted, once per (``main`` head, day):
        scanning 2,000 documents per home page cost 3 ms (issue 12)."""
        key = self.register_key()
        cached = self._due
        if cached is None or cached[0] != key:
            soon = int(self.instance.settings["REVIEW_DUE_SOON_DAYS"])
            cached = self._due = (key, due_by_kind(self._register(key[1]), key[1], soon))
        return cached[1]

    def changes(self, person, state: str | None = None) -> list[ChangeSummary]:
        """The changes ``person`` may see (drafts only within their circle: issue 15)."""
        return self.instance.workflow.list_changes(state, viewer=person)

    def changes_page(self, person, state: str | None, page: int) -> tuple[list[ChangeSummary], bool]:
        """One page of :meth:`changes` (newest first), and whether more follow."""
        return self.instance.workflow.changes_page(state, viewer=person, page=page, per_page=CHANGES_PER_PAGE)

    # -- internals ---------------------------------------------------------------------------
    def known_ids(self) -> frozenset[str]:
        return self.link_targets().known_ids

    def link_targets(self) -> LinkTargets:
        """Linkable IDs and what to flag, kept per (``main`` head, day): effective dates switch
        revisions by the day without a new commit."""
        today = self.instance.today()
        head = self.instance.catalog.current_head()
        if self._links[0] != (head, today) or head is None:
            states = self._register(today)
            targets = LinkTargets(
                known_ids=frozenset(s.doc_id for s in states),
                prefix=self.link_prefix,
                obsolete_ids=frozenset(s.doc_id for s in states if s.status == "obsolete"),
                current_revisions={s.doc_id: s.current.revision for s in states if s.current is not None},
            )
            self._links = ((head, today), targets)
        return self._links[1]

    def render(self, blob: str, text_loader) -> Rendered:
        return self.instance.render_cache.get_or_render(blob, lambda: _body(text_loader()), self.link_targets())

    def render_text(self, markdown: str) -> Rendered:
        """An unsaved text (the editor's preview), rendered with the same links as documents."""
        return render_markdown(markdown, self.link_targets())

    def _page(self, state: DocumentState, rev: Revision) -> DocumentPage:
        if not rev.blob:
            raise NotFound("%(doc_id)s revision %(revision)s has no content", doc_id=rev.doc_id, revision=rev.revision)
        store, cell = self.instance.store, {}

        def load() -> str:
            if "text" not in cell:
                cell["text"] = decode_text(store.read_blob(rev.blob))
            return cell["text"]

        return DocumentPage(state, rev, load, self.render(rev.blob, load))


def _body(text: str) -> str:
    try:
        return split_front_matter(text)[1].lstrip("\n")
    except Invalid:
        return text
