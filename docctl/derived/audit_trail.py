"""The audit trail: every recorded step, across documents, in one chronological table.

Auditors ask "what happened between these dates, to this document, in this unit, by this
person?". Answering from git would walk 240,000 commits per page at 2,000 × 20, so each step is
also written here, derived: rows for ``main`` come from the catalog as it catches up, rows for a
change from the change index each time the change moves (under the workflow's write lock), and
:meth:`AuditTrail.rebuild_changes` recreates them from the change branches. Read confirmations
are not copied: they stay in their own append-only store and are merged in when a page is read.

Nothing in docctl updates or deletes a row except a rebuild from git; git stays the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..core.changes import EDIT_ACTIONS, Change, ChangeEvent
from ..core.records import MainRecord, Signature, parse_identity
from ..stores.database import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS trail_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trail (
    commit_sha TEXT NOT NULL,
    action TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL,
    doc_id TEXT NOT NULL DEFAULT '',
    revision INTEGER,
    change INTEGER,
    actor TEXT NOT NULL,
    login TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (commit_sha, action, login)
);
CREATE INDEX IF NOT EXISTS trail_by_time ON trail (at);
CREATE INDEX IF NOT EXISTS trail_by_doc ON trail (doc_id, at);
CREATE INDEX IF NOT EXISTS trail_by_unit ON trail (unit, at);
CREATE INDEX IF NOT EXISTS trail_by_login ON trail (login, at);
CREATE INDEX IF NOT EXISTS trail_by_change ON trail (source, change);
"""
_INSERT = "INSERT OR REPLACE INTO trail VALUES (?,?,?,?,?,?,?,?,?,?,?)"
PAGE_SIZE = 50
# At one instant a release follows the signature that caused it: main's row shows first.
_NEWEST_FIRST = "at DESC, source = 'main' DESC, rowid DESC"

# The words of the trail (CONTRACT §4 `action`), from the verbs git records.
MAIN_ACTIONS = {
    "init": "initialized",
    "policy": "policy_changed",
    "release": "released",
    "withdraw": "withdrawn",
    "review": "reviewed",
    "migrate": "migrated",
    "keys": "signing_keys_changed",
    "unknown": "unrecorded_commit",
}
CHANGE_ACTIONS = {
    "create": "created",
    "edit": "edited",
    "update": "updated",
    "submit": "submitted",
    "approve": "signed",
    "reject": "rejected",
    "cancel": "cancelled",
}
ACTIONS = (*CHANGE_ACTIONS.values(), "voided", *MAIN_ACTIONS.values(), "confirmed_read", "account_changed")


@dataclass(frozen=True)
class TrailEvent:
    at: datetime
    action: str
    document_id: str
    revision: int | None
    change: int | None
    actor: str
    login: str
    unit: str
    commit: str | None
    detail: str

    def as_json(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "document_id": self.document_id or None,
            "revision": self.revision,
            "change": self.change,
            "actor": self.actor,
            "login": self.login or None,
            "unit": self.unit or None,
            "commit": self.commit,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class TrailQuery:
    """The four filters of the trail (period, document, unit, person) and the page."""

    since: date | None = None
    until: date | None = None
    document: str | None = None
    unit: str | None = None
    actor: str | None = None
    action: str | None = None
    page: int = 1

    def where(self) -> tuple[str, list]:
        clauses, args = [], []
        if self.since:
            clauses.append("at >= ?")
            args.append(self.since.isoformat())
        if self.until:
            clauses.append("at < ?")
            args.append((self.until + timedelta(days=1)).isoformat())
        if self.document:
            clauses.append("doc_id = ?")
            args.append(self.document)
        if self.unit:
            clauses.append("unit = ?")
            args.append(self.unit)
        if self.actor:
            clauses.append("(login = ? OR actor LIKE ? ESCAPE '\\')")
            args += [self.actor, "%" + self.actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"]
        if self.action:
            clauses.append("action = ?")
            args.append(self.action)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class AuditTrail:
    """Rows of ``trail`` in ``catalog.sqlite3``."""

    def __init__(self, path) -> None:
        self.path = path

    def _connect(self):
        return connect(self.path, SCHEMA, derived=True)

    # -- writing (the catalog and the workflow call these) ---------------------------------
    def add_main(self, conn, records: Iterable[MainRecord], units: dict[str, str]) -> None:
        """Rows for new ``main`` records, inside the catalog's own transaction (``conn``, whose
        schema includes :data:`SCHEMA`)."""
        conn.executemany(_INSERT, [_main_row(rec, units.get(rec.doc_id or "", "")) for rec in records])
        conn.execute("INSERT OR REPLACE INTO trail_meta VALUES ('main', '1')")

    def forget_main(self, conn, *, up_to: int | None = None) -> None:
        """Delete ``main``'s rows (those written up to row ``up_to``, when given)."""
        if up_to is None:
            conn.execute("DELETE FROM trail WHERE source='main'")
        else:
            conn.execute("DELETE FROM trail WHERE source='main' AND rowid <= ?", (up_to,))
        self.mark_main_unbuilt(conn)

    @staticmethod
    def newest_row(conn) -> int:
        """The newest row's id, in ``conn``'s transaction."""
        return conn.execute("SELECT coalesce(max(rowid), 0) FROM trail").fetchone()[0]

    @staticmethod
    def mark_main_unbuilt(conn) -> None:
        conn.execute("DELETE FROM trail_meta WHERE key='main'")  # not built until add_main

    def record_change(self, change: Change, unit: str) -> None:
        """Replace the rows of one change by its events as git has them now."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM trail WHERE source='change' AND change=?", (change.number,))
            conn.executemany(_INSERT, _change_rows(change, unit))
            conn.execute("COMMIT")

    def forget_changes(self) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM trail WHERE source='change'")
            conn.execute("DELETE FROM trail_meta WHERE key='changes'")

    def add_changes(self, changes: Iterable[tuple[Change, str]]) -> None:
        """Rows of a whole-history rebuild. INSERT OR IGNORE: a live step recorded while the
        rebuild read git wrote its change's rows from a newer state, which must stay (a change's
        events only ever grow, so the older snapshot adds nothing those rows lack)."""
        rows = [row for change, unit in changes for row in _change_rows(change, unit)]
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT.replace("OR REPLACE", "OR IGNORE"), rows)
            conn.execute("INSERT OR REPLACE INTO trail_meta VALUES ('changes', '1')")
            conn.execute("COMMIT")

    def fill_main(self, conn, rows) -> None:
        """Rows for ``main`` from catalog records (an instance from before the trail existed)."""
        conn.execute("DELETE FROM trail WHERE source='main'")
        conn.executemany(_INSERT, [_main_row_from_record(r) for r in rows])
        conn.execute("INSERT OR REPLACE INTO trail_meta VALUES ('main', '1')")

    def main_built(self) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM trail_meta WHERE key='main'").fetchone() is not None

    def last_row(self) -> int:
        """Grows with every step recorded (a cheap "has anything happened since?")."""
        with self._connect() as conn:
            return conn.execute("SELECT max(rowid) FROM trail").fetchone()[0] or 0

    def changes_built(self) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM trail_meta WHERE key='changes'").fetchone() is not None

    # -- reading -----------------------------------------------------------------------------
    def events(self, query: TrailQuery, limit: int) -> list[TrailEvent]:
        """The newest ``limit`` events matching ``query`` (an indexed range, never a scan of all)."""
        where, args = query.where()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT * FROM trail{where} ORDER BY {_NEWEST_FIRST} LIMIT ?",  # noqa: S608 - fixed clauses
                [*args, int(limit)],
            ).fetchall()
        return [_event(r) for r in rows]

    def iter_events(self, query: TrailQuery, batch: int = 2000):
        """Every matching event, newest first, in batches (CSV export of a long period)."""
        where, args = query.where()
        with self._connect() as conn:
            cursor = conn.execute(f"SELECT * FROM trail{where} ORDER BY {_NEWEST_FIRST}", args)  # noqa: S608 - fixed clauses
            while rows := cursor.fetchmany(batch):
                yield from (_event(r) for r in rows)


def _main_row(rec: MainRecord, unit: str) -> tuple:
    action = MAIN_ACTIONS.get(rec.action, "unrecorded_commit")
    if rec.action in ("release", "migrate", "withdraw"):
        signers = ", ".join(f"{s.name} ({s.meaning}, {s.role})" for s in rec.signatures)
        detail = f"{rec.reason} — signed: {signers}" if signers else rec.reason
    else:
        detail = rec.reason or rec.subject
    return (
        rec.commit,
        action,
        "main",
        _utc(rec.recorded_at),
        rec.doc_id or "",
        rec.revision,
        rec.change,
        f"{rec.actor_name} <{rec.actor_email}>",
        rec.actor_login,
        unit,
        detail,
    )


def _main_row_from_record(row) -> tuple:
    signatures = [Signature.from_trailer(s) for s in json.loads(row["signatures"])]
    name, email = parse_identity(row["actor"])
    record = MainRecord(
        commit=row["commit_sha"],
        action=row["action"],
        doc_id=row["doc_id"],
        revision=row["revision"],
        change=row["change"],
        effective_date=None,
        recorded_at=datetime.fromisoformat(row["recorded_at"]),
        actor_name=name,
        actor_email=email,
        prepared_by=row["prepared_by"],
        reason=row["reason"],
        signatures=tuple(signatures),
        subject=row["action"],
    )
    return _main_row(record, row["unit"] or "")


def _change_rows(change: Change, unit: str) -> list[tuple]:
    rows = []
    pending: list[ChangeEvent] = []
    for event in change.events:
        action = CHANGE_ACTIONS.get(event.action)
        if action is None:
            continue  # the release marker: the release itself is on main
        detail = event.comment
        if event.action == "approve" and event.signature:
            detail = f"{event.signature.meaning} as {event.signature.role}; content {event.content[:12]}"
            pending.append(event)
        elif event.action in (*EDIT_ACTIONS, "reject") and pending:
            for signed in pending:
                rows.append(_change_row(change, event, "voided", unit, f"signature of {signed.actor_name} voided"))
            pending = []
        if event.action in ("create", "edit", "update") and not detail:
            detail = change.reason if event.action == "create" else ""
        rows.append(_change_row(change, event, action, unit, detail))
    return rows


def _change_row(change: Change, event: ChangeEvent, action: str, unit: str, detail: str) -> tuple:
    return (
        event.commit,
        action,
        "change",
        _utc(event.at),
        change.doc_id,
        None,
        change.number,
        f"{event.actor_name} <{event.actor_email}>",
        event.actor_login,
        unit,
        detail[:500],
    )


def _utc(moment: datetime) -> str:
    """One sortable form for every timestamp (git keeps the writer's offset)."""
    from datetime import UTC

    return moment.astimezone(UTC).isoformat()


def _event(row) -> TrailEvent:
    return TrailEvent(
        at=datetime.fromisoformat(row["at"]),
        action=row["action"],
        document_id=row["doc_id"],
        revision=row["revision"],
        change=row["change"],
        actor=row["actor"],
        login=row["login"],
        unit=row["unit"],
        commit=row["commit_sha"],
        detail=row["detail"],
    )


def trail_page(
    trail: AuditTrail,
    acks,
    query: TrailQuery,
    *,
    units: dict[str, str],
    names: dict[str, str],
    accounts=None,
    unit_documents: Mapping[str, frozenset[str]] | None = None,
):
    """One page of the trail with read confirmations and account changes merged in: (events, has_more).
    ``units``: each document's owning unit; ``unit_documents``: each unit's documents, when the
    caller keeps them (else found from ``units``).

    Each source answers its newest ``page × size + 1`` rows from an index; the merge keeps the
    page. Cost follows the page number, not the length of history.
    """
    want = query.page * PAGE_SIZE + 1
    events = [] if query.action in ("confirmed_read", "account_changed") else trail.events(query, want)
    until = query.until + timedelta(days=1) if query.until else None
    login = None
    if query.actor:
        login = (
            query.actor
            if query.actor in names
            else next((k for k, v in names.items() if query.actor.lower() in v.lower()), "\0")
        )
    if accounts is not None and query.action in (None, "account_changed") and not (query.document or query.unit):
        # Who changed whose roles, units or state (issue 15): from the append-only account journal.
        for row in accounts.newest_events(
            since=query.since.isoformat() if query.since else None,
            until=until.isoformat() if until else None,
            login=login,
            limit=want,
        ):
            events.append(
                TrailEvent(
                    at=datetime.fromisoformat(row["at"]),
                    action="account_changed",
                    document_id="",
                    revision=None,
                    change=None,
                    actor=names.get(row["actor"], row["actor"]),
                    login=row["actor"],
                    unit="",
                    commit=None,
                    detail=f"{row['event']}: {row['login']}" + (f" ({row['detail']})" if row["detail"] else ""),
                )
            )
    if query.action in (None, "confirmed_read"):
        doc_ids = None
        if query.document:
            doc_ids = [query.document]
        elif query.unit and unit_documents is not None:
            doc_ids = unit_documents.get(query.unit, frozenset())
        elif query.unit:
            doc_ids = frozenset(d for d, u in units.items() if u == query.unit)
        for ack in acks.newest(
            since=query.since,
            until=until,
            document_ids=doc_ids,
            login=login,
            limit=want,
        ):
            events.append(
                TrailEvent(
                    at=ack.at,
                    action="confirmed_read",
                    document_id=ack.document_id,
                    revision=ack.revision,
                    change=None,
                    actor=names.get(ack.login, ack.login),
                    login=ack.login,
                    unit=units.get(ack.document_id, ""),
                    commit=None,
                    detail=f"read and understood revision {ack.revision}",
                )
            )
    events.sort(key=lambda e: e.at, reverse=True)
    start = (query.page - 1) * PAGE_SIZE
    return events[start : start + PAGE_SIZE], len(events) > start + PAGE_SIZE
