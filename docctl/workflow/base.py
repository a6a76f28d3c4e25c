"""The shared ground of every workflow verb: the store, time, policy, reading a change, writing a step.

Only the workflow writes the documents repository. Every verb takes the person acting and, where
a user edits, the head they based their work on; it builds the new commit with plumbing, then
moves the ref(s) with compare-and-swap.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..core import signing
from ..core.changes import Change, ChangeSummary, change_ref, read_events
from ..core.clock import utc_now
from ..core.commits import Identity, format_message
from ..core.documents import (
    Metadata,
    canonical_text,
    compose_document,
    decode_text,
    document_path,
    parse_document,
    refuse_conflict_markers,
    validate_metadata,
)
from ..core.errors import (
    Conflict,
    DocctlError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    refuse_control_characters,
)
from ..core.policy import POLICY_PATH, Policy, parse_policy
from ..derived.catalog import Catalog
from ..derived.change_index import ChangeIndex
from ..stores.git import GitStore
from ..stores.git.writing import Signer
from ..stores.keys import KeyStore
from .trailers import carry

CHANGES_KEPT = 512  # changes kept as read, per process

MAIN = "refs/heads/main"


MAX_REASON = 2000


def change_number(number: object) -> int:
    try:
        value = int(number)
    except (TypeError, ValueError):
        raise Invalid("invalid change number %(number)s", number=repr(str(number)[:20])) from None
    if value < 1:
        raise Invalid("change numbers start at 1")
    return value


def clean_reason(reason: str | None) -> str:
    reason = " ".join(refuse_control_characters(reason or "", "the reason").split())
    if not reason:
        raise Invalid("a reason for the change is required")
    if len(reason) > MAX_REASON:
        raise Invalid("the reason is longer than %(MAX_REASON)s characters", MAX_REASON=MAX_REASON)
    return reason


def require_role(actor: signing.Person, *roles: str) -> None:
    if not set(roles) & set(actor.roles):
        raise Forbidden("this needs one of the roles: %(value)s", value=", ".join(roles))


def _first_content(events) -> str:
    for event in events:
        if event.content:
            return event.content
    return ""


class WorkflowBase:
    """State and helpers the verbs share; the verbs live in drafting, approval, lifecycle…"""

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
        keys: KeyStore | None = None,
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
        # The journals' chain heads for anchors (issue 30): name -> (number, hash, rows before).
        self.journal_heads: Callable[[], dict[str, tuple[int, str, int]]] | None = None
        # The instance's public key ("ssh-ed25519 …"), listed first in allowed_signers (issue 29).
        self.instance_key_line: Callable[[], str] | None = None
        # Personal signing keys (issue 29); None: signatures are signed like any other step.
        self.keys = keys
        # Told of every signature made with a person's own key (the e-mail to that person).
        self.signature_listeners: list[Callable[[signing.Person, str, str], None]] = []
        # Told of each release made here and how long its last signature took, in seconds (metrics).
        self.release_listeners: list[Callable[[Change, float], None]] = []
        # Changes as read, by (number, tip): a change is its branch, and a commit never changes.
        self._read: OrderedDict[tuple[int, str], Change] = OrderedDict()
        self._read_lock = threading.Lock()

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

    def _indexed(self, change: Change) -> tuple[Change, str, str]:
        try:
            meta = self.meta_of(change)
        except (DocctlError, UnicodeDecodeError):
            return change, "", ""
        return change, meta.type, meta.unit

    def get(self, number: int) -> Change:
        """A change with its events: ``git log --first-parent BASE..changes/N``.

        Kept by its branch's tip (everything read here follows from that commit): a signature
        read the change three times, twice at the same tip, and at 20,000 documents each read
        finds the text in an 800 KB folder."""
        number = change_number(number)
        try:
            head = self.store.head(change_ref(number))
        except NotFound:
            raise NotFound("change %(number)s does not exist", number=number) from None
        with self._read_lock:
            kept = self._read.get((number, head))
        if kept is not None:
            return kept
        change = self._read_change(number, head)
        with self._read_lock:
            self._read[(number, head)] = change
            while len(self._read) > CHANGES_KEPT:
                self._read.popitem(last=False)
        return change

    def _read_change(self, number: int, head: str) -> Change:
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

    def _step(self, change: Change, action: str, state: str, actor: signing.Person, comment: str) -> str:
        trailers = carry(change, action, state, actor)
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

    def _commit(
        self, tree: str, parents: list[str], message: str, actor: signing.Person, *, sign: Signer | None = None
    ) -> str:
        """A commit by ``actor`` with the service as committer, signed by ``sign`` (a person's own
        key, for a signature) or else by the store's signer (the instance's key)."""
        return self.store.commit_tree(
            tree,
            parents,
            message,
            author=Identity(actor.name, actor.email),
            committer=self.service,
            when=self.now(),
            sign=sign,
        )

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

    def _next_number(self) -> int:
        # The index answers without listing every change ref; a ref it has not seen yet (a
        # writer that died before indexing) is skipped by a single ref read.
        number = self.change_index.max_number() + 1
        while self.store.has_ref(change_ref(number)):
            number += 1
        return number
