"""Reading changes for lists, tasks and visibility; keeping the change index and trail in step.

Reads come from the change index (one SQL query, no git: issue 12); rebuilding it and the audit
trail's change rows from git is :mod:`docctl.derived.change_rebuild`'s work.
"""

from __future__ import annotations

import re

from ..core import signing
from ..core.changes import Change, ChangeSummary
from ..core.errors import (
    DocctlError,
    NotFound,
)
from ..core.figures import figure_folder
from ..core.policy import Policy
from ..core.visibility import may_see_change
from ..derived.change_rebuild import change_index_rows, rebuild_change_trail
from .base import WorkflowBase

ABSORB_ONE_BY_ONE = 20  # more changes than this from one sync are re-indexed in bulk


class ChangeQueries(WorkflowBase):
    """Lists, scopes and visibility of changes; the index kept in step with git."""

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

    def figures_of(self, change: Change) -> list[str]:
        """The figure files a change's tree carries beside its document."""
        return sorted(self.store.folder(change.head, figure_folder(change.doc_id)))

    def propose_id(self, doc_type: str) -> str:
        return self._propose_id(self.policy(), doc_type)

    def _propose_id(self, policy: Policy, doc_type: str) -> str:
        prefix = policy.types[doc_type].prefix if doc_type in policy.types else "D"
        taken = set(self.catalog.known_ids()) | self.change_index.document_ids()
        pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
        numbers = [int(m.group(1)) for i in taken if (m := pattern.fullmatch(i))]
        return f"{prefix}-{max(numbers, default=0) + 1:02d}"

    def rebuild_change_index(self) -> int:
        """Recreate the change index from the change refs alone (``docctl reindex``, start-up)."""
        return self.change_index.rebuild(self.change_index_rows())

    def change_index_rows(self) -> list[tuple[Change, str, str]]:
        """The change index's rows (change, document type, unit) as git has them, by number."""
        return change_index_rows(self.store, lambda number: self._indexed(self.get(number)))

    def rebuild_change_trail(self) -> int:
        """Recreate the audit trail's rows for every step of every change, from git alone."""
        return rebuild_change_trail(self.store, self.catalog)

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


def require_visible(workflow: ChangeQueries, number: int, person: signing.Person | None) -> None:
    """NotFound — worded as for a change that does not exist — unless ``person`` may see it."""
    scoped = workflow.scope_of(number)
    if scoped is None or not may_see_change(person, *scoped, workflow.policy()):
        raise NotFound("change %(number)s does not exist", number=number)


def visible_numbers(workflow: ChangeQueries, person: signing.Person | None) -> frozenset[int]:
    """The open changes ``person`` may see (search's ``scope=drafts``)."""
    policy = workflow.policy()
    return frozenset(c.number for c, t, u in workflow.open_changes() if may_see_change(person, c, t, u, policy))
