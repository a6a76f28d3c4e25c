"""Keeps the search index a faithful cache of git (the after-commit listener of the workflow).

The index holds one entry per released revision, each with the days it is in force
(``valid_from`` … ``valid_until``), so "current" is a filter on the query day and a future-dated
revision becomes searchable as current on its date with no job running. Drafts are indexed for
their authors. The index records the ``main`` commit it reflects; :meth:`Indexer.catch_up`
re-indexes only the documents touched since, and rebuilds when the index is missing or broken.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from ..core.changes import Change
from ..core.documents import split_front_matter
from ..core.errors import DocctlError, NotFound
from ..core.records import RELEASES, MainRecord
from ..stores.git import GitStore
from .catalog import Catalog
from .search import IndexEntry, SearchIndex


class Indexer:
    """Two indexes shaped for the questions asked (issue 12): ``current`` holds, per document, the
    revision in force and any approved later one (plus drafts), so the default search filters a
    few thousand entries, not every revision ever released; ``all`` holds every released revision
    for ``scope=all`` and may be built in the background."""

    def __init__(
        self, catalog: Catalog, store: GitStore, index: SearchIndex, workflow, all_index: SearchIndex | None = None
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.index = index
        self.all_index = all_index
        self.workflow = workflow
        self.today = workflow.today
        # Servers update the all-revisions index after the release has answered (set by
        # Instance.start(background=True)); the CLI and tests keep it synchronous.
        self.defer_all = False
        self._all_pending = threading.Lock()
        self._all_dirty = False

    # -- entries -----------------------------------------------------------------------------
    def entries_for(
        self, doc_ids: Iterable[str], reader, *, shape: str = "all", after_seq: int = 0
    ) -> list[IndexEntry]:
        """Released revisions of these documents, each with the interval it is in force.

        ``shape``: ``all`` (every revision), ``current`` (from the one in force today on) or
        ``since`` (revisions recorded after ``after_seq``, and the one before each, whose
        validity they close). Blobs are read only for the entries returned.
        """
        return list(self._entries(doc_ids, reader, shape=shape, after_seq=after_seq))

    def _entries(self, doc_ids: Iterable[str], reader, *, shape: str = "all", after_seq: int = 0):
        """:meth:`entries_for`, one entry at a time (a rebuild analyses while the next is read)."""
        today = self.today().isoformat()
        chosen: list[tuple[str, list, int, object]] = []  # (document, its releases, which, withdrawal)
        for doc_id, rows in self._rows_by_doc(doc_ids).items():
            releases = [r for r in rows if r["action"] in RELEASES]
            withdraw = next((r for r in rows if r["action"] == "withdraw"), None)
            positions = range(len(releases))
            if shape == "current":
                in_force = [i for i, r in enumerate(releases) if r["effective_date"] <= today]
                positions = range(in_force[-1] if in_force else 0, len(releases))
            elif shape == "since":
                fresh = [i for i, r in enumerate(releases) if r["seq"] > after_seq]
                first = fresh[0] if fresh else len(releases) - 1  # a withdrawal closes the last one
                positions = range(max(first - 1, 0), len(releases))
            chosen += [(doc_id, releases, position, withdraw) for position in positions]
        # only the rows indexed need their file (a rebuild may have left older ones for later)
        rows = self.catalog.with_files([releases[position] for _, releases, position, _ in chosen])
        for (doc_id, releases, position, withdraw), row in zip(chosen, rows, strict=True):
            yield self._entry(doc_id, row, releases, position, withdraw, reader)

    def _rows_by_doc(self, doc_ids: Iterable[str]) -> dict[str, list]:
        rows_by_doc: dict[str, list] = {}
        for row in self.catalog.all_records_for(doc_ids):
            rows_by_doc.setdefault(row["doc_id"], []).append(row)
        return rows_by_doc

    @staticmethod
    def _entry(doc_id: str, row, releases: list, position: int, withdraw, reader) -> IndexEntry:
        following = releases[position + 1] if position + 1 < len(releases) else None
        until = following["effective_date"] if following else (withdraw["effective_date"] if withdraw else None)
        return IndexEntry(
            key=f"{doc_id}@{row['revision']}",
            doc_id=doc_id,
            title=row["title"] or doc_id,
            body=_body(reader.blob(row["blob"]).decode("utf-8", errors="replace")),
            type=row["type"] or "",
            unit=row["unit"] or "",
            revision=row["revision"],
            status="released",
            valid_from=_day(row["effective_date"]),
            valid_until=_day(until),
            withdrawn=following is None and withdraw is not None,
        )

    def _stale_current_keys(self, doc_ids: Iterable[str], kept: list[IndexEntry]) -> list[str]:
        """Keys of revisions that left the current index (superseded since it was written)."""
        keep = {e.key for e in kept}
        keys = []
        for doc_id, rows in self._rows_by_doc(doc_ids).items():
            keys += [f"{doc_id}@{r['revision']}" for r in rows if r["action"] in RELEASES]
        return [k for k in keys if k not in keep]

    # -- after-commit listeners --------------------------------------------------------------
    def on_main_records(self, records: list[MainRecord]) -> None:
        """After ``main`` moved: update both indexes for the documents the new records touch.

        A release writes one new entry into each index and closes the previous revision's
        validity (the ``all`` index) or drops it (the ``current`` one), in one writer commit each.
        """
        touched = {r.doc_id for r in records if r.doc_id and r.action in (*RELEASES, "withdraw")}
        head = self.catalog.recorded_commit()
        if not self.index.present():
            self.rebuild_current()
            return
        drafts = [f"change:{r.change}" for r in records if r.change]  # released drafts leave with it
        with self.store.reader() as reader:
            current = self.entries_for(touched, reader, shape="current")
            self.index.apply(current, deletes=[*self._stale_current_keys(touched, current), *drafts], commit=head)
            if self.all_index is not None and self.all_index.present() and not self.defer_all:
                self._catch_up_all(reader)
        if self.all_index is not None and self.defer_all:
            self._catch_up_all_later()

    def _catch_up_all_later(self) -> None:
        """Bring the all-revisions index up to ``main`` in a background thread: opening its
        segments to close the previous revision's validity cost ~0.3 s of every release at
        2,000 × 20 (issue 12). ``scope=all`` lags by that long; the current index does not.
        One pending catch-up at a time covers every release before it (it reads the head then)."""
        self._all_dirty = True
        if not self._all_pending.acquire(blocking=False):
            return  # the running catch-up sees the flag and goes round again

        def run() -> None:
            try:
                while self._all_dirty:
                    self._all_dirty = False
                    if self.all_index.present():
                        with self.store.reader() as reader:
                            self._catch_up_all(reader)
            except Exception:  # noqa: BLE001 - derived data: the next catch-up or start-up retries
                logging.getLogger("docctl").exception("updating the index of all revisions failed")
            finally:
                self._all_pending.release()
            if self._all_dirty:  # flagged between the last round and the release of the lock
                self._catch_up_all_later()

        threading.Thread(target=run, name="docctl-index-all-update", daemon=True).start()

    def on_change(self, change: Change) -> None:
        """Drafts are searchable by their authors; released or cancelled drafts leave the index."""
        key = f"change:{change.number}"
        if change.state == "released":
            return  # on_main_records removed the draft together with indexing the release
        if change.state == "cancelled" or change.kind == "withdraw" or not change.blob:
            self.index.apply([], deletes=[key])
            return
        try:
            entry = self.draft_entry(change)
        except DocctlError:
            return
        self.index.apply([entry])

    def draft_entry(self, change: Change) -> IndexEntry:
        """A draft, searchable by its author only (key ``change:<N>``)."""
        meta = self.workflow.meta_of(change)
        text = self.store.read_blob(change.blob).decode("utf-8", errors="replace")
        return IndexEntry(
            key=f"change:{change.number}",
            doc_id=change.doc_id,
            title=change.title,
            body=_body(text),
            type=meta.type,
            unit=meta.unit,
            revision=0,
            status="draft",
            valid_from=None,
            valid_until=None,
            owner=change.author_login,
        )

    # -- catching up and rebuilding ----------------------------------------------------------
    def catch_up(self) -> None:
        """At start-up: rebuild a missing/broken current index, else index what ``main`` gained
        since. (The ``all`` index is caught up here when present; built by :meth:`rebuild_all`.)"""
        self.catalog.catch_up()
        head = self.catalog.recorded_commit()
        if head is None:
            return
        if not self.index.exists():
            self.rebuild_current()
        elif self.index.indexed_commit() != head:
            try:
                touched = self.catalog.documents_touched_since(self.index.indexed_commit())
            except NotFound:
                self.rebuild_current()
            else:
                with self.store.reader() as reader:
                    current = self.entries_for(touched, reader, shape="current")
                    stale = self._stale_current_keys(touched, current)
                    self.index.apply(current, deletes=stale, commit=head)
        if self.all_index is not None and self.all_index.exists():
            with self.store.reader() as reader:
                self._catch_up_all(reader)

    def catch_up_all(self) -> None:
        """The all-revisions index brought up to ``main`` (after it was built by another process)."""
        if self.all_index is not None and self.all_index.present():
            with self.store.reader() as reader:
                self._catch_up_all(reader)

    def _catch_up_all(self, reader) -> None:
        head = self.catalog.recorded_commit()
        indexed = self.all_index.indexed_commit()
        if indexed == head:
            return
        try:
            touched = self.catalog.documents_touched_since(indexed)
            after = self.catalog.seq_of(indexed)
        except NotFound:
            self.rebuild_all()
            return
        self.all_index.apply(self.entries_for(touched, reader, shape="since", after_seq=after), commit=head)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """``docctl reindex``: both indexes from git (the current one first), each swapped in atomically."""
        count = self.rebuild_current(progress)
        if self.all_index is not None:
            self.rebuild_all()
        return count

    def rebuild_current(self, progress: Callable[[int], None] | None = None, *, procs: int = 1) -> int:
        self.catalog.catch_up()
        head = self.catalog.recorded_commit() or ""
        with self.store.reader() as reader:
            entries = self.entries_for(self.catalog.all_document_ids(), reader, shape="current")
        drafts = []
        # the open changes only: listing all 40,000 to keep the open ones took 0.3 s (issue 12)
        for summary in self.workflow.change_index.open_summaries():
            if summary.kind != "withdraw":
                try:
                    drafts.append(self.draft_entry(self.workflow.get(summary.number)))
                except DocctlError:
                    continue
        return self.index.rebuild([*entries, *drafts], commit=head, progress=progress, procs=procs)

    def rebuild_all(self, progress: Callable[[int], None] | None = None, *, procs: int = 1) -> int:
        """Every released revision (``scope=all``); slow on a long history, so servers run it in
        the background while the current index already answers."""
        self.catalog.catch_up()
        self.catalog.fill_files()  # in bulk, when a rebuild left older releases' files for later
        head = self.catalog.recorded_commit() or ""
        with self.store.reader() as reader:
            entries = self._entries(self.catalog.all_document_ids(), reader)
            return self.all_index.rebuild(entries, commit=head, progress=progress, procs=procs)


def _body(text: str) -> str:
    try:
        return split_front_matter(text)[1]
    except DocctlError:
        return text


def _day(value: str | None):
    from datetime import date

    return date.fromisoformat(value) if value else None
