"""Each release's file in the catalog: its blob id and front matter, found in its commit by git —
now, or after search answers again when a rebuild left it for later.

At 20,000 documents every lookup inflates the commit's 800 KB ``documents/`` folder: 200,000 of
them were 70 of a rebuild's 100 s (issue 33). A rebuild reads the files of the revisions in force
and later at once, and marks the older releases' rows :data:`LATER`; :func:`fill_later` reads
those in bulk afterwards, and until then :func:`with_files` reads the ones a reader returns, so no
answer ever shows a release without its title or file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ..core.documents import document_path, quick_metadata
from ..core.records import RELEASES
from ..stores.git import GitStore, bulk_load

# The blob of a release whose file is read later; the rows that carry its values (withdrawals,
# reviews) hold it too. The catalog's meta row 'files' says some may be left.
LATER = "later"
FILE_COLUMNS = ("blob", "title", "type", "unit", "review_months")


class FoundFiles:
    """Each release's file as git finds it (the ``found`` of ``GitStore.reading_files``, called
    from git's reader threads): its blob id, and each blob's front matter read once."""

    def __init__(self) -> None:
        self.blob_of: dict[str, str] = {}
        self.metas: dict[str, tuple | None] = {}

    def __call__(self, spec: tuple[str, str], blob: str, data: bytes) -> None:
        self.blob_of[spec[0]] = blob
        if blob not in self.metas:
            meta = quick_metadata(data)
            # None: kept visible under its ID; `verify` reports the bad file
            self.metas[blob] = (meta.title, meta.type, meta.unit, meta.review_months) if meta else None

    def values(self, commit: str, doc_id: str) -> tuple:
        """(blob, title, type, unit, review months) of the release ``commit`` of ``doc_id``."""
        blob = self.blob_of.get(commit)
        return (blob, *(self.metas.get(blob) or (doc_id, None, None, None)))


def left_for_later(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM meta WHERE key='files'").fetchone() is not None


def fill_later(connect: Callable[[], sqlite3.Connection], store: GitStore, *, procs: int) -> int:
    """Read the files left for later from git (``procs`` gits, in main's order) and write them
    into their rows and into the rows that carry a release's values. Returns how many releases
    were filled. Any process may run it, more than once: a row is only ever filled with what
    its commit holds."""
    with connect() as conn:
        if not left_for_later(conn):
            return 0
        pending = conn.execute(
            "SELECT commit_sha, doc_id FROM records WHERE blob=? AND action IN (?, ?) ORDER BY seq",
            (LATER, *RELEASES),
        ).fetchall()
    files = FoundFiles()
    with bulk_load(), store.reading_files(files, procs=procs) as ask:
        for commit, doc_id in pending:
            ask(commit, document_path(doc_id))
    with connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE records SET blob=?, title=?, type=?, unit=?, review_months=? WHERE commit_sha=? AND blob=?",
            [(*files.values(commit, doc_id), commit, LATER) for commit, doc_id in pending],
        )
        # a withdrawal or review takes the values of the release or withdrawal before it
        for seq, doc_id in conn.execute("SELECT seq, doc_id FROM records WHERE blob=? ORDER BY seq", (LATER,)):
            before = conn.execute(
                "SELECT blob, title, type, unit, review_months FROM records WHERE doc_id=? AND seq<?"
                " AND action IN (?, ?, 'withdraw') ORDER BY seq DESC LIMIT 1",
                (doc_id, seq, *RELEASES),
            ).fetchone()
            conn.execute(
                "UPDATE records SET blob=?, title=?, type=?, unit=?, review_months=? WHERE seq=?",
                (*(before or (None,) * 5), seq),
            )
        if conn.execute("SELECT 1 FROM records WHERE blob=? LIMIT 1", (LATER,)).fetchone() is None:
            conn.execute("DELETE FROM meta WHERE key='files'")
        conn.execute("COMMIT")
    return len(pending)


def with_files(conn: sqlite3.Connection, store: GitStore, rows: list) -> list:
    """``rows`` with the files left for later read from git: one indexed query when none are,
    which is always but for the minute after a rebuild."""
    if not rows or not left_for_later(conn):
        return rows
    pending = [r for r in rows if r["blob"] == LATER]
    if not pending:
        return rows
    files = FoundFiles()
    with store.reading_files(files) as ask:
        # in main's order: git then inflates each folder from the one before, which it keeps
        for row in sorted(pending, key=lambda r: r["seq"]):
            if row["action"] in RELEASES:
                ask(row["commit_sha"], document_path(row["doc_id"]))
    filled = {}
    for row in pending:
        # a withdrawal or review between two older releases: only the release's own row is
        # ever read for these values
        known = files.values(row["commit_sha"], row["doc_id"]) if row["action"] in RELEASES else (None,) * 5
        filled[row["commit_sha"]] = {**dict(row), **dict(zip(FILE_COLUMNS, known, strict=True))}
    return [filled.get(r["commit_sha"], r) for r in rows]
