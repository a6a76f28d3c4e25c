"""Read confirmations ("I have read and understood revision N"), append-only.

Kept in their own SQLite file or in the shared PostgreSQL database; triggers refuse UPDATE and
DELETE, so a confirmation, once given, cannot be altered through docctl or through a plain SQL connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.clock import utc_now
from . import journal
from .database import Database, Schema, append_only, open_database

SCHEMA = Schema(
    "acks",
    (
        lambda dialect: (
            f"""
CREATE TABLE IF NOT EXISTS acknowledgements (
    login TEXT NOT NULL, document_id TEXT NOT NULL, revision INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (login, document_id, revision)
);
{append_only(dialect, "acknowledgements", "read confirmations are append-only")}
"""
        ),
        lambda dialect: journal.chain_columns(dialect, "acknowledgements"),  # issue 30
    ),
)
FIELDS = ("login", "document_id", "revision", "at")


@dataclass(frozen=True)
class Acknowledgement:
    login: str
    document_id: str
    revision: int
    at: datetime


class AckStore:
    def __init__(self, database: Database | Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.database = open_database(database)
        self.path = getattr(self.database, "path", None)
        self.clock = clock

    def _db(self):
        return self.database.session(SCHEMA)

    def record(self, login: str, document_id: str, revision: int) -> Acknowledgement:
        """Idempotent: confirming the same revision twice keeps the first time. A new
        confirmation goes at the end of the hash chain (:mod:`docctl.stores.journal`)."""
        key = (login, document_id, int(revision))
        with self._db() as conn, conn.transaction():
            row = conn.execute(
                "SELECT * FROM acknowledgements WHERE login=? AND document_id=? AND revision=?", key
            ).fetchone()
            if row is None:
                journal.append(
                    conn, self.database.dialect, "acknowledgements", FIELDS, (*key, self.clock().isoformat())
                )
                row = conn.execute(
                    "SELECT * FROM acknowledgements WHERE login=? AND document_id=? AND revision=?", key
                ).fetchone()
        return _ack(row)

    def chain(self) -> list[journal.ChainRow]:
        """Every confirmation with its place in the hash chain (``docctl verify``)."""
        with self._db() as conn:
            return journal.read(conn, "acknowledgements", FIELDS, "at")

    def chain_head(self) -> tuple[int, str, int]:
        with self._db() as conn:
            return journal.head(conn, "acknowledgements")

    def has(self, login: str, document_id: str, revision: int) -> bool:
        with self._db() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM acknowledgements WHERE login=? AND document_id=? AND revision=?",
                    (login, document_id, int(revision)),
                ).fetchone()
                is not None
            )

    def for_document(self, document_id: str, revision: int | None = None) -> list[Acknowledgement]:
        query, args = "SELECT * FROM acknowledgements WHERE document_id=?", [document_id]
        if revision is not None:
            query, args = query + " AND revision=?", [*args, int(revision)]
        with self._db() as conn:
            return [_ack(r) for r in conn.execute(query + " ORDER BY at", args)]

    def newest(
        self, *, since=None, until=None, document_ids=None, login: str | None = None, limit: int
    ) -> list[Acknowledgement]:
        """The newest ``limit`` confirmations matching the filters (the audit trail's page).

        Many documents (a unit's 2,000) are not spelled into SQL: rows are read newest first in
        batches and kept while they match, until ``limit`` are found.
        """
        clauses, args = [], []
        if since is not None:
            clauses.append("at >= ?")
            args.append(since.isoformat())
        if until is not None:
            clauses.append("at < ?")
            args.append(until.isoformat())
        if login is not None:
            clauses.append("login = ?")
            args.append(login)
        wanted = None if document_ids is None else frozenset(document_ids)  # a frozenset is not copied
        if wanted is not None and len(wanted) <= 100:
            ids = sorted(wanted) or [""]
            clauses.append(f"document_id IN ({','.join('?' * len(ids))})")
            args += ids
            wanted = None
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        found: list[Acknowledgement] = []
        with self._db() as conn:
            cursor = conn.execute(f"SELECT * FROM acknowledgements{where} ORDER BY at DESC", args)  # noqa: S608 - fixed clauses, values bound
            while len(found) < limit and (rows := cursor.fetchmany(500)):
                found += [_ack(r) for r in rows if wanted is None or r[1] in wanted]
            cursor.close()
        return found[:limit]

    def for_documents(self, document_ids) -> list[Acknowledgement]:
        """Confirmations of several documents (a unit's report), any revision."""
        ids = sorted(set(document_ids))
        out: list[Acknowledgement] = []
        with self._db() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                out += [
                    _ack(r)
                    for r in conn.execute(
                        f"SELECT * FROM acknowledgements WHERE document_id IN ({','.join('?' * len(chunk))})",  # noqa: S608 - placeholders only
                        chunk,
                    )
                ]
        return out

    def for_user(self, login: str) -> list[Acknowledgement]:
        with self._db() as conn:
            return [_ack(r) for r in conn.execute("SELECT * FROM acknowledgements WHERE login=? ORDER BY at", (login,))]


def _ack(row) -> Acknowledgement:
    return Acknowledgement(row[0], row[1], row[2], datetime.fromisoformat(row[3]))
