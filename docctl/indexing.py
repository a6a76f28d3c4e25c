"""Keeps the search index a faithful cache of git (the after-commit listener of the workflow).

The index holds one entry per released revision, each with the days it is in force
(``valid_from`` … ``valid_until``), so "current" is a filter on the query day and a future-dated
revision becomes searchable as current on its date with no job running. Drafts are indexed for
their authors. The index records the ``main`` commit it reflects; :meth:`Indexer.catch_up`
re-indexes only the documents touched since, and rebuilds when the index is missing or broken.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .catalog import Catalog
from .changes import Change
from .documents import split_front_matter
from .errors import DocctlError, NotFound
from .records import MainRecord
from .repo import GitStore
from .search import IndexEntry, SearchIndex


class Indexer:
    def __init__(self, catalog: Catalog, store: GitStore, index: SearchIndex, workflow) -> None:
        self.catalog = catalog
        self.store = store
        self.index = index
        self.workflow = workflow

    def entries_for(self, doc_ids: Iterable[str], reader) -> list[IndexEntry]:
        """Every released revision of these documents, with the interval each was in force."""
        entries: list[IndexEntry] = []
        rows_by_doc: dict[str, list] = {}
        for row in self.catalog.all_records_for(doc_ids):
            rows_by_doc.setdefault(row["doc_id"], []).append(row)
        for doc_id, rows in rows_by_doc.items():
            releases = [r for r in rows if r["action"] == "release"]
            withdraw = next((r for r in rows if r["action"] == "withdraw"), None)
            for position, row in enumerate(releases):
                following = releases[position + 1] if position + 1 < len(releases) else None
                until = following["effective_date"] if following else (withdraw["effective_date"] if withdraw else None)
                entries.append(
                    IndexEntry(
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
                )
        return entries

    def on_main_records(self, records: list[MainRecord]) -> None:
        """After ``main`` moved: re-index the documents the new records touch."""
        touched = {r.doc_id for r in records if r.doc_id and r.action in ("release", "withdraw")}
        head = self.catalog.recorded_commit()
        if not self.index.exists():
            self.rebuild()
            return
        with self.store.reader() as reader:
            entries = self.entries_for(touched, reader)
        # The released drafts leave the index in the same writer commit (one commit per release).
        drafts = [f"change:{r.change}" for r in records if r.change]
        self.index.apply(entries, deletes=drafts, commit=head)

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

    def catch_up(self) -> None:
        """At start-up: rebuild a missing/broken index, else index what ``main`` gained since."""
        self.catalog.catch_up()
        head = self.catalog.recorded_commit()
        if head is None:
            return
        if not self.index.exists():
            self.rebuild()
            return
        indexed = self.index.indexed_commit()
        if indexed == head:
            return
        try:
            touched = self.catalog.documents_touched_since(indexed)
        except NotFound:
            self.rebuild()
            return
        with self.store.reader() as reader:
            self.index.apply(self.entries_for(touched, reader), commit=head)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """``docctl reindex``: the whole index from git, swapped in atomically."""
        self.catalog.catch_up()
        head = self.catalog.recorded_commit() or ""
        with self.store.reader() as reader:
            entries = self.entries_for(self.catalog.all_document_ids(), reader)
        drafts = []
        for summary in self.workflow.list_changes():
            if summary.state in ("draft", "in_review") and summary.kind != "withdraw":
                try:
                    drafts.append(self.draft_entry(self.workflow.get(summary.number)))
                except DocctlError:
                    continue
        return self.index.rebuild([*entries, *drafts], commit=head, progress=progress)


def _body(text: str) -> str:
    try:
        return split_front_matter(text)[1]
    except DocctlError:
        return text


def _day(value: str | None):
    from datetime import date

    return date.fromisoformat(value) if value else None
