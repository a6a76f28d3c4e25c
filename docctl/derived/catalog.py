"""The derived catalog: document → revisions → commit and blob ids, in SQLite.

Showing a document or its history must not walk git history (``git log -- PATH`` costs
100–900 ms per document at 2,000 × 20; an indexed row costs microseconds). The catalog is a
cache of ``main``: it records the commit it reflects, catches up from there on every read
(a loose-ref read when nothing changed), and :meth:`Catalog.rebuild` recreates it from git
alone. Deleting the file loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from ..core.documents import document_path
from ..core.errors import DocctlError, NotFound
from ..core.records import RELEASES, MainRecord, Signature, read_main_record
from ..stores.database import connect
from ..stores.git import GitStore, bulk_load
from .audit_trail import SCHEMA as TRAIL_SCHEMA
from .audit_trail import AuditTrail
from .release_files import LATER, FoundFiles, fill_later, with_files

# Gits finding each release's file in a rebuild: at 20,000 documents, finding a path in a
# commit's 800 KB folder made one git the pace of the whole rebuild (issue 33).
READERS = 2

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    commit_sha TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    doc_id TEXT,
    revision INTEGER,
    change INTEGER,
    effective_date TEXT,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    prepared_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    blob TEXT,
    title TEXT,
    type TEXT,
    unit TEXT,
    review_months INTEGER,
    signatures TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_doc ON records (doc_id, seq);
CREATE INDEX IF NOT EXISTS records_releases ON records (action, doc_id, effective_date, revision);
CREATE INDEX IF NOT EXISTS records_by_time ON records (recorded_at);
"""
    + TRAIL_SCHEMA
)


@dataclass(frozen=True)
class Revision:
    """One released revision of a document."""

    doc_id: str
    revision: int
    commit: str
    blob: str
    released_at: datetime
    effective_date: date
    title: str
    type: str
    unit: str
    review_months: int
    prepared_by: str
    released_by: str
    reason: str
    change: int | None
    signatures: tuple[Signature, ...]
    migrated: bool = False  # approved on paper, attested in docctl (``Action: migrate``)

    def as_json(self) -> dict:
        return {
            "revision": self.revision,
            "migrated": self.migrated,
            "commit": self.commit,
            "released_at": self.released_at.isoformat(),
            "effective_date": self.effective_date.isoformat(),
            "author": self.prepared_by,
            "change_reason": self.reason,
            "change": self.change,
            "approvals": [s.as_json() for s in self.signatures],
        }


@dataclass(frozen=True)
class Review:
    commit: str
    revision: int
    reviewed_at: date
    reviewer: str
    comment: str


@dataclass(frozen=True)
class DocumentState:
    """A document as it stands on a given day: what is in force, what is coming, what is due."""

    doc_id: str
    at: date
    current: Revision | None  # in force on `at`; None before the first effective date
    pending: Revision | None  # approved, effective after `at`
    latest: Revision  # highest revision number released (current or pending)
    withdrawn_on: date | None
    withdraw_reason: str
    last_review: date | None
    review_due: date | None
    reviews: tuple[Review, ...]

    @property
    def status(self) -> str:
        if self.withdrawn_on is not None and self.withdrawn_on <= self.at:
            return "obsolete"
        return "effective" if self.current is not None else "approved"

    def status_of(self, rev: Revision) -> str:
        """The one state of ``rev`` on this day — the only place it is decided (issue 17).

        ``obsolete`` (the document is withdrawn: none of its revisions may be used),
        ``effective`` (the revision in force), ``approved`` (released, effective later) or
        ``superseded`` (a later revision is in force).
        """
        if self.status == "obsolete":
            return "obsolete"
        if self.current is None or rev.revision > self.current.revision:
            return "approved"
        return "effective" if rev.revision == self.current.revision else "superseded"

    def register_row(self) -> dict:
        """One line of the register (``GET /api/v1/documents``, ``docctl export master-list``)."""
        rev = self.shown
        return {
            "id": self.doc_id,
            "title": rev.title,
            "type": rev.type,
            "unit": rev.unit,
            "revision": rev.revision,
            "effective_date": rev.effective_date.isoformat(),
            "review_due": self.review_due.isoformat() if self.review_due else None,
            "status": self.status,
        }

    @property
    def review_overdue(self) -> bool:
        return self.review_due is not None and self.review_due < self.at

    @property
    def shown(self) -> Revision:
        """The revision a reader lands on: the one in force, else the last one there was."""
        return self.current or self.latest


def add_months(day: date, months: int) -> date:
    import calendar

    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class Catalog:
    """SQLite cache of ``main``. One connection per operation; safe across threads and processes."""

    def __init__(self, path: Path, store: GitStore) -> None:
        self.path = Path(path)
        self.store = store
        self.listeners: list[Callable[[list[MainRecord]], None]] = []
        self.trail = AuditTrail(self.path)
        self._answers = HeadCache()
        # The last head this process saw recorded: the catalog only ever moves forward with
        # main, so while main stays there no query is needed (3-5 a page before, issue 12).
        self._recorded: str | None = None
        self._trail_later: tuple[list[MainRecord], dict[str, str]] | None = None  # see rebuild()
        self._trail_cut: int | None = None  # the last trail row when rebuild(trail=False) ran

    def _connect(self):
        return connect(self.path, _SCHEMA, derived=True)

    # -- keeping up with git -----------------------------------------------------------------
    def current_head(self) -> str | None:
        """``main``'s head, with the catalog caught up to it (None: no history yet)."""
        self.catch_up()
        return self._recorded or self.recorded_commit()

    def recorded_commit(self) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key='main'").fetchone()
        return row["value"] if row else None

    def catch_up(self, *, notify: bool = True, trail: bool = True, today: date | None = None) -> list[MainRecord]:
        """Bring the catalog up to ``main``; returns the new records (oldest first).

        Cheap when nothing changed (a loose-ref read and one indexed select). When ``main`` no
        longer contains the recorded commit (history rewritten, repository replaced), the
        catalog is rebuilt from scratch rather than trusted.
        """
        try:
            head = self.store.head()
        except NotFound:
            return []
        if head == self._recorded:
            return []
        if self.recorded_commit() == head:
            self._answers.at_head(head)
            self._recorded = head
            return []
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one catcher-up at a time across processes
            try:
                row = conn.execute("SELECT value FROM meta WHERE key='main'").fetchone()
                since = row["value"] if row else None
                if since == head:
                    conn.execute("COMMIT")
                    self._recorded = head
                    return []
                if since and not self.store.is_ancestor(since, head):
                    conn.execute("DELETE FROM records")
                    self.trail.forget_main(conn)
                    since = None
                # One walk of main for the records, and a pipelined `cat-file --batch` for each
                # release's file (its blob id and front matter): a rebuild of 40,000 releases took
                # 54 s with a round trip per release (issue 12). While the walk is parsed here, git
                # reads the files on the other core. With `today` (a rebuild), only the files of
                # the revisions in force on that day and later are read now, the older ones by
                # fill_files(): at 20,000 documents each lookup inflates an 800 KB folder, and
                # 200,000 of them were 70 of a rebuild's 100 s (issue 33).
                files = FoundFiles()
                settled: set[str] = set()  # documents whose revision in force on `today` was met
                later: set[str] = set()
                records = []
                readers = READERS if since is None else 1  # a rebuild: two gits find the files
                with bulk_load(), self.store.reading_files(files, procs=readers) as ask:
                    for commit, _ in self.store.walk([head], since=since, first_parent=True):  # newest first
                        record = read_main_record(commit)
                        records.append(record)
                        if record.action in RELEASES and record.doc_id and _valid_id(record.doc_id):
                            if today is not None and record.doc_id in settled:
                                later.add(record.commit)
                                continue
                            ask(record.commit, document_path(record.doc_id))
                            if today is not None and (record.effective_date or today) <= today:
                                settled.add(record.doc_id)
                records.reverse()  # oldest first
                units = self._insert(conn, records, files, later)
                if later:
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('files', ?)", (LATER,))
                if trail:
                    self.trail.add_main(conn, records, units)
                else:
                    self._trail_later = (records, units)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('main', ?)", (head,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._answers.at_head(head)
        self._recorded = head
        if notify:
            for listener in self.listeners:
                listener(records)
        return records

    def rebuild(self, *, trail: bool = True, today: date | None = None) -> int:
        """Forget everything and read ``main`` again (``docctl reindex`` calls this).

        Without ``trail``, the audit trail's rows for ``main`` are written later, by
        :meth:`write_trail_later`, once search answers again: reindex's critical path
        (0.7 s of 5 s at 2,000 × 20). Until then the trail says it is not built, and keeps its
        rows from before, replaced then in one transaction.

        With ``today``, only the files of the revisions in force on that day and later are read
        now; the older releases' are read by :meth:`fill_files`. Until then every read of the
        catalog resolves the ones it returns from git (correct, a lookup each), so nothing shows
        a release without its title or file."""
        self._recorded = None
        with self._connect() as conn:
            conn.execute("DELETE FROM records")
            conn.execute("DELETE FROM meta")
            if trail:
                self.trail.forget_main(conn)
            else:  # the old rows go with the new ones, in one transaction: 400,000 deleted cost 16 s
                self.trail.mark_main_unbuilt(conn)
                self._trail_cut = self.trail.newest_row(conn)
        # No listeners: whoever rebuilds the catalog rebuilds the indexes next (reindex built
        # the search index twice before, issue 12).
        return len(self.catch_up(notify=False, trail=trail, today=today))

    def fill_files(self, *, procs: int = READERS) -> int:
        """The files a rebuild left for later (``rebuild(today=...)``), read from git into their
        rows; returns how many releases were filled (any process may run it, more than once)."""
        return fill_later(self._connect, self.store, procs=procs)

    def _with_files(self, conn: sqlite3.Connection, rows: list) -> list:
        return with_files(conn, self.store, rows)

    def write_trail_later(self) -> int:
        """The audit trail's rows for ``main`` held back by ``rebuild(trail=False)``: the very
        rows a rebuild with the trail writes."""
        if self._trail_later is None:
            return 0
        records, units = self._trail_later
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self.trail.forget_main(conn, up_to=self._trail_cut)  # rows of releases since stay
            self.trail.add_main(conn, records, units)
            conn.execute("COMMIT")
        self._trail_later = None
        return len(records)

    def _insert(
        self, conn: sqlite3.Connection, records: list[MainRecord], files: FoundFiles, later: set[str]
    ) -> dict[str, str]:
        """Rows for ``records`` (oldest first); ``files``: each release's file as git found it,
        ``later``: the releases whose file is read later (:data:`LATER`, values unknown till
        then). Returns each document's owning unit."""
        last_meta: dict[str, tuple] = {}
        units: dict[str, str] = {}
        rows = []
        for rec in records:
            blob = title = doc_type = unit = months = None
            if rec.action in RELEASES and rec.doc_id:
                if rec.commit in later:
                    blob = LATER
                else:
                    blob, title, doc_type, unit, months = files.values(rec.commit, rec.doc_id)
            elif rec.doc_id:
                prev = last_meta.get(rec.doc_id) or self._last_meta(conn, rec.doc_id)
                if prev:
                    blob, title, doc_type, unit, months = prev
            if rec.doc_id and rec.action in (*RELEASES, "withdraw"):
                last_meta[rec.doc_id] = (blob, title, doc_type, unit, months)
            if rec.doc_id:
                units[rec.doc_id] = unit or ""
            rows.append(
                (
                    rec.commit,
                    rec.action,
                    rec.doc_id,
                    rec.revision,
                    rec.change,
                    rec.effective_date.isoformat() if rec.effective_date else None,
                    rec.recorded_at.isoformat(),
                    f"{rec.actor_name} <{rec.actor_email}>",
                    rec.prepared_by,
                    rec.reason,
                    blob,
                    title,
                    doc_type,
                    unit,
                    months,
                    json.dumps([s.trailer() for s in rec.signatures]),
                )
            )
        conn.executemany(
            "INSERT OR IGNORE INTO records (commit_sha, action, doc_id, revision, change, effective_date,"
            " recorded_at, actor, prepared_by, reason, blob, title, type, unit, review_months, signatures)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        return units

    @staticmethod
    def _last_meta(conn: sqlite3.Connection, doc_id: str) -> tuple | None:
        row = conn.execute(
            "SELECT blob, title, type, unit, review_months FROM records WHERE doc_id=? AND action='release'"
            " ORDER BY seq DESC LIMIT 1",
            (doc_id,),
        ).fetchone()
        return tuple(row) if row else None

    # -- reading -----------------------------------------------------------------------------
    def _rows(self, doc_id: str) -> list[sqlite3.Row]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM records WHERE doc_id=? ORDER BY seq", (doc_id,)).fetchall()
            return self._with_files(conn, rows)

    def revisions(self, doc_id: str) -> list[Revision]:
        """Every released revision of a document, newest first (like ``git log main -- PATH``)."""
        return list(self._revisions(doc_id))

    def _revisions(self, doc_id: str) -> tuple[Revision, ...]:
        self.catch_up()
        return self._answers.get(("revisions", doc_id), lambda: self._read_revisions(doc_id))

    def _read_revisions(self, doc_id: str) -> tuple[Revision, ...]:
        revisions = [_revision(r) for r in self._rows(doc_id) if r["action"] in RELEASES]
        if not revisions:
            raise NotFound("document %(doc_id)s does not exist", doc_id=doc_id)
        return tuple(revisions[::-1])

    def revision(self, doc_id: str, number: int) -> Revision:
        for rev in self._revisions(doc_id):
            if rev.revision == number:
                return rev
        raise NotFound("document %(doc_id)s has no revision %(number)s", doc_id=doc_id, number=number)

    def document(self, doc_id: str, at: date) -> DocumentState:
        """The document as it stood on ``at`` (an injected day, so future dates switch by
        themselves): only what had been recorded by the end of that day counts (issue 18).

        Answered once per (document, day, ``main`` head): a page view built 20 revision objects
        from their rows on every request (issue 12)."""
        self.catch_up()
        return self._answers.get(("document", doc_id, at), lambda: self._read_document(doc_id, at))

    def _read_document(self, doc_id: str, at: date) -> DocumentState:
        rows = [r for r in self._rows(doc_id) if r["recorded_at"][:10] <= at.isoformat()]
        state = _state(doc_id, rows, at)
        if state is None:
            if rows or not self._rows(doc_id):
                raise NotFound("document %(doc_id)s does not exist", doc_id=doc_id)
            raise NotFound("document %(doc_id)s did not exist yet on %(value)s", doc_id=doc_id, value=at.isoformat())
        return state

    def master_list(self, at: date, *, include_obsolete: bool = False) -> list[DocumentState]:
        """Every document as it stands on ``at``, sorted by ID."""
        self.catch_up()
        # Only the rows that can matter on `at`: per document, the revision in force and later
        # ones, the reviews and the withdrawal — not every revision ever released (issue 12:
        # 40,000 rows turned into objects per request at 2,000 × 20).
        with self._connect() as conn:
            # As it stood on `at`: what was recorded after that day did not exist yet (issue 18:
            # a register "as of" a past date showed later releases as approved).
            day = at.isoformat()
            # `last`: the last record of that day, an upper bound on seq the primary key can use
            # (records are appended in time order; the day filter stays exact if clocks disagreed).
            last = conn.execute(
                "SELECT max(seq) FROM records WHERE recorded_at < ?", ((at + timedelta(days=1)).isoformat(),)
            ).fetchone()[0]
            rows = conn.execute(
                "WITH cur AS (SELECT doc_id, max(revision) AS rev FROM records"
                " WHERE action='release' AND effective_date <= ? AND seq <= ? AND substr(recorded_at, 1, 10) <= ?"
                " GROUP BY doc_id)"
                " SELECT r.* FROM records r LEFT JOIN cur ON cur.doc_id = r.doc_id"
                " WHERE r.seq <= ? AND r.doc_id IS NOT NULL"
                " AND (r.action = 'review' OR r.revision >= coalesce(cur.rev, 0))"
                " AND substr(r.recorded_at, 1, 10) <= ?"
                " ORDER BY r.doc_id, r.seq",
                (day, last or 0, day, last or 0, day),
            ).fetchall()
            rows = self._with_files(conn, rows)
        by_doc: dict[str, list] = {}
        for row in rows:
            by_doc.setdefault(row["doc_id"], []).append(row)
        states = [s for d, rs in by_doc.items() if (s := _state(d, rs, at)) is not None]
        return [s for s in states if include_obsolete or s.status != "obsolete"]

    def known_ids(self) -> frozenset[str]:
        self.catch_up()
        with self._connect() as conn:
            rows = conn.execute("SELECT DISTINCT doc_id FROM records WHERE action='release'").fetchall()
        return frozenset(r[0] for r in rows)

    def with_files(self, rows: list) -> list:
        """``rows`` of this catalog with any file a rebuild left for later read (see rebuild())."""
        with self._connect() as conn:
            return self._with_files(conn, rows)

    def all_records_for(self, doc_ids) -> list[sqlite3.Row]:
        """Every record of these documents as stored: a release whose file a rebuild left for
        later keeps :data:`LATER` (the caller reads the few it uses with :meth:`with_files`)."""
        ids = sorted(set(doc_ids))
        if not ids:
            return []
        with self._connect() as conn:
            rows: list[sqlite3.Row] = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows += conn.execute(
                    f"SELECT * FROM records WHERE doc_id IN ({','.join('?' * len(chunk))}) ORDER BY doc_id, seq",  # noqa: S608 - placeholders only
                    chunk,  # only "?" placeholders are interpolated above
                ).fetchall()
        return rows

    def fill_trail(self) -> None:
        """The audit trail's rows for ``main`` from the records (once, after an upgrade)."""
        self.catch_up()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT * FROM records ORDER BY seq").fetchall()
            self.trail.fill_main(conn, self._with_files(conn, rows))
            conn.execute("COMMIT")

    def units_by_document(self, doc_ids=None) -> dict[str, str]:
        """Each document's owning unit as last released (all documents, or those named)."""
        query = (
            "SELECT doc_id, unit FROM records WHERE action='release' AND unit IS NOT NULL"
            " AND (? IS NULL OR doc_id = ?) ORDER BY seq"
        )
        with self._connect() as conn:
            if doc_ids is None:
                return {r[0]: r[1] for r in conn.execute(query, (None, None))}
            out = {}
            for doc_id in doc_ids:
                out.update({r[0]: r[1] for r in conn.execute(query, (doc_id, doc_id))})
            return out

    def all_document_ids(self) -> list[str]:
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT doc_id FROM records WHERE action='release'")]

    def documents_touched_since(self, commit: str | None) -> set[str]:
        """Documents with records after ``commit``; NotFound when the catalog never saw it."""
        with self._connect() as conn:
            if commit is None:
                raise NotFound("no commit recorded")
            row = conn.execute("SELECT seq FROM records WHERE commit_sha=?", (commit,)).fetchone()
            if row is None:
                raise NotFound("commit %(commit)s is not on main", commit=commit[:10])
            rows = conn.execute(
                "SELECT DISTINCT doc_id FROM records WHERE seq>? AND doc_id IS NOT NULL", (row["seq"],)
            ).fetchall()
        return {r[0] for r in rows}

    def seq_of(self, commit: str | None) -> int:
        """Position of ``commit`` among the records; NotFound when the catalog never saw it."""
        with self._connect() as conn:
            row = conn.execute("SELECT seq FROM records WHERE commit_sha=?", (commit or "",)).fetchone()
        if row is None:
            raise NotFound("commit %(value)s is not on main", value=(commit or "")[:10])
        return row["seq"]

    def all_records(self) -> list[sqlite3.Row]:
        self.catch_up()
        with self._connect() as conn:
            return self._with_files(conn, conn.execute("SELECT * FROM records ORDER BY seq").fetchall())


class HeadCache:
    """Answers computed from the catalog, valid while ``main`` stays at one head.

    Everything the catalog answers is a function of ``main`` (and the arguments), so an entry
    can never be stale for the head it was computed at; a new head empties the cache. Bounded,
    thread-safe; errors are not cached.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._head: str | None = None
        self._entries: dict = {}
        self._lock = threading.Lock()

    def at_head(self, head: str) -> None:
        with self._lock:
            if head != self._head:
                self._head, self._entries = head, {}

    def get(self, key, compute: Callable):
        with self._lock:
            head, entries = self._head, self._entries
            if key in entries:
                return entries[key]
        value = compute()
        with self._lock:
            if self._head == head and head is not None:
                if len(entries) >= self.max_entries:
                    entries.clear()
                entries[key] = value
        return value


def _valid_id(doc_id: str) -> bool:
    try:
        document_path(doc_id)
    except DocctlError:
        return False
    return True


def _revision(row: sqlite3.Row) -> Revision:
    return Revision(
        doc_id=row["doc_id"],
        revision=row["revision"],
        commit=row["commit_sha"],
        blob=row["blob"],
        released_at=datetime.fromisoformat(row["recorded_at"]),
        effective_date=date.fromisoformat(row["effective_date"]),
        title=row["title"] or row["doc_id"],
        type=row["type"] or "",
        unit=row["unit"] or "",
        review_months=row["review_months"] or 12,
        prepared_by=row["prepared_by"],
        released_by=row["actor"],
        reason=row["reason"],
        change=row["change"],
        signatures=tuple(Signature.from_trailer(s) for s in json.loads(row["signatures"])),
        migrated=row["action"] == "migrate",
    )


def _state(doc_id: str, rows: list[sqlite3.Row], at: date) -> DocumentState | None:
    releases = [_revision(r) for r in rows if r["action"] in RELEASES]
    if not releases:
        return None
    current = None
    pending = None
    for rev in releases:
        if rev.effective_date <= at:
            current = rev
        elif pending is None or rev.revision > pending.revision:
            pending = rev
    withdrawn_on, withdraw_reason = None, ""
    reviews = []
    for row in rows:
        if row["action"] == "withdraw":
            withdrawn_on = date.fromisoformat(row["effective_date"])
            withdraw_reason = row["reason"]
        elif row["action"] == "review":
            reviews.append(
                Review(
                    row["commit_sha"],
                    row["revision"] or 0,
                    datetime.fromisoformat(row["recorded_at"]).date(),
                    row["actor"],
                    row["reason"],
                )
            )
    last_review = None
    review_due = None
    if current is not None:
        last_review = max([current.effective_date] + [r.reviewed_at for r in reviews if r.revision == current.revision])
        review_due = add_months(last_review, current.review_months)
    return DocumentState(
        doc_id,
        at,
        current,
        pending,
        releases[-1],
        withdrawn_on,
        withdraw_reason,
        last_review,
        None if withdrawn_on and withdrawn_on <= at else review_due,
        tuple(reviews),
    )
