"""The outbox: e-mail notifications stored with the instance until a mail server has taken them
(issue 13).

Nothing is lost while the mail server is down: a message leaves the outbox only when SMTP has
accepted it; a failure puts it back with a later ``next_attempt`` (backing off from a minute to
six hours). Each message is sent once even with several worker processes: a sender *claims* rows
with one UPDATE that re-checks the row is still pending (SQLite serializes writers; PostgreSQL
re-reads a row another claimer changed meanwhile), and a claim left behind by a process that died is
taken back after ``STALE_CLAIM``. Each notification has a ``key`` (what it is about, for whom), so
the same event noticed twice — two workers, a retried request — is stored once.

People choose per kind: ``immediate``, ``digest`` (one message a day) or ``none``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..core.clock import utc_now
from .database import Database, Schema, identity_key, open_database

MODES = ("immediate", "digest", "none")
STALE_CLAIM = timedelta(minutes=10)
GIVE_UP_AFTER = 20  # attempts (about four days with the back-off): then "failed", shown to admins


def _outbox_v1(dialect: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS outbox (
    id {identity_key(dialect)},
    key TEXT NOT NULL UNIQUE,
    login TEXT NOT NULL,
    email TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    sent_at TEXT,
    message_id TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, mode, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_person ON outbox(login, state);
CREATE TABLE IF NOT EXISTS notification_preferences (
    login TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    PRIMARY KEY (login, kind)
);
CREATE TABLE IF NOT EXISTS daily_looks (day TEXT PRIMARY KEY, at TEXT NOT NULL, worker TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS digests (
    login TEXT NOT NULL,
    day TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (login, day)
);
"""


SCHEMA = Schema("outbox", (_outbox_v1,))


@dataclass(frozen=True)
class Message:
    """One notification for one person (a row of the outbox)."""

    key: str
    login: str
    email: str
    kind: str
    subject: str
    body: str
    mode: str = "immediate"
    id: int | None = None
    state: str = "pending"
    attempts: int = 0
    created_at: str = ""
    sent_at: str | None = None
    last_error: str | None = None

    @classmethod
    def from_row(cls, row) -> Message:
        return cls(**{k: row[k] for k in row.keys() if k in cls.__dataclass_fields__})


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=6))


class Outbox:
    def __init__(self, database: Database | Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.database = open_database(database)
        self.path = getattr(self.database, "path", None)
        self.clock = clock
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def _db(self):
        return self.database.session(SCHEMA)

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    # -- preferences -------------------------------------------------------------------------
    def preferences(self, login: str, defaults: dict[str, str]) -> dict[str, str]:
        with self._db() as db:
            rows = db.execute("SELECT kind, mode FROM notification_preferences WHERE login = ?", (login,))
            chosen = {r["kind"]: r["mode"] for r in rows}
        return {kind: chosen.get(kind, mode) for kind, mode in defaults.items()}

    def set_preferences(self, login: str, modes: dict[str, str]) -> None:
        with self._db() as db, db.transaction():
            for kind, mode in modes.items():
                assert mode in MODES
                db.execute(
                    "INSERT INTO notification_preferences(login, kind, mode) VALUES (?, ?, ?) "
                    "ON CONFLICT(login, kind) DO UPDATE SET mode = excluded.mode",
                    (login, kind, mode),
                )

    # -- queueing ----------------------------------------------------------------------------
    def add(self, messages: Iterable[Message]) -> int:
        """Queue messages; one already queued under the same key is kept as it is."""
        now = self._now()
        added = 0
        with self._db() as db, db.transaction():
            for m in messages:
                cursor = db.execute(
                    "INSERT INTO outbox(key, login, email, kind, mode, subject, body, created_at, "
                    "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (m.key, m.login, m.email, m.kind, m.mode, m.subject, m.body, now, now),
                )
                added += cursor.rowcount
        return added

    def claim_daily_look(self, day: str) -> bool:
        """True for the one process, among all workers, that looks for reviews due and copies to
        withdraw on ``day`` (at 2,000 documents the look costs seconds: once a day is enough)."""
        with self._db() as db:
            return (
                db.execute(
                    "INSERT INTO daily_looks(day, at, worker) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    (day, self._now(), self.worker),
                ).rowcount
                == 1
            )

    # -- sending -----------------------------------------------------------------------------
    def claim_immediate(self, limit: int = 100) -> list[Message]:
        """Take due immediate messages for this process; nobody else sends them meanwhile."""
        now = self.clock()
        with self._db() as db:
            self._take_back_stale(db, now)
            rows = db.execute(
                "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_at = ? WHERE id IN ("
                " SELECT id FROM outbox WHERE state = 'pending' AND mode = 'immediate' AND next_attempt <= ?"
                " ORDER BY id LIMIT ?) AND state = 'pending' RETURNING *",
                (self.worker, now.isoformat(timespec="seconds"), now.isoformat(timespec="seconds"), limit),
            ).fetchall()
        return sorted((Message.from_row(r) for r in rows), key=lambda m: m.id)

    def digest_logins(self) -> list[str]:
        with self._db() as db:
            rows = db.execute(
                "SELECT DISTINCT login FROM outbox WHERE state = 'pending' AND mode = 'digest' AND next_attempt <= ?",
                (self._now(),),
            )
            return [r["login"] for r in rows]

    def claim_digest(self, login: str, day: str) -> list[Message]:
        """Take one person's pending digest messages, unless their digest for ``day`` went out."""
        now = self.clock()
        with self._db() as db, db.transaction():
            if db.execute("SELECT 1 FROM digests WHERE login = ? AND day = ?", (login, day)).fetchone():
                return []
            rows = db.execute(
                "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_at = ? WHERE login = ? AND "
                "state = 'pending' AND mode = 'digest' AND next_attempt <= ? RETURNING *",
                (self.worker, now.isoformat(timespec="seconds"), login, now.isoformat(timespec="seconds")),
            ).fetchall()
        return sorted((Message.from_row(r) for r in rows), key=lambda m: m.id)

    def sent(self, messages: Iterable[Message], message_id: str, *, digest_day: str | None = None) -> None:
        now = self._now()
        with self._db() as db, db.transaction():
            for m in messages:
                db.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1, "
                    "claimed_by = NULL, last_error = NULL WHERE id = ? AND claimed_by = ?",
                    (now, message_id, m.id, self.worker),
                )
                if digest_day:
                    db.execute(
                        "INSERT INTO digests VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (m.login, digest_day, now)
                    )

    def failed(self, messages: Iterable[Message], error: str, *, permanent: bool = False) -> None:
        """Back to the queue for a later attempt (or, after many, marked failed)."""
        now = self.clock()
        with self._db() as db, db.transaction():
            for m in messages:
                attempts = m.attempts + 1
                state = "failed" if permanent or attempts >= GIVE_UP_AFTER else "pending"
                db.execute(
                    "UPDATE outbox SET state = ?, attempts = ?, next_attempt = ?, last_error = ?, claimed_by = NULL "
                    "WHERE id = ? AND claimed_by = ?",
                    (
                        state,
                        attempts,
                        (now + backoff(attempts)).isoformat(timespec="seconds"),
                        error[:500],
                        m.id,
                        self.worker,
                    ),
                )

    def _take_back_stale(self, db, now: datetime) -> None:
        db.execute(
            "UPDATE outbox SET state = 'pending', claimed_by = NULL WHERE state = 'sending' AND claimed_at < ?",
            ((now - STALE_CLAIM).isoformat(timespec="seconds"),),
        )

    def retry_failed(self) -> int:
        """An administrator fixed the address or the server: try every failed message again."""
        with self._db() as db:
            return db.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt = ?, claimed_by = NULL "
                "WHERE state = 'failed'",
                (self._now(),),
            ).rowcount

    # -- reading -----------------------------------------------------------------------------
    def messages(self, *, login: str | None = None, state: str | None = None, limit: int = 200) -> list[Message]:
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM outbox WHERE (CAST(? AS TEXT) IS NULL OR login = ?)"
                " AND (CAST(? AS TEXT) IS NULL OR state = ?) ORDER BY id DESC LIMIT ?",
                (login, login, state, state, limit),
            )
            return [Message.from_row(r) for r in rows]

    def backlog(self) -> dict:
        """What waits to be sent: pending and failed messages, and when the oldest pending was made."""
        with self._db() as db:
            row = db.execute(
                "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE state = 'pending'"
            ).fetchone()
            failed = db.execute("SELECT count(*) AS n FROM outbox WHERE state = 'failed'").fetchone()
        return {"pending": row["n"], "failed": failed["n"], "oldest_pending": row["oldest"]}

    def counts(self) -> dict[str, int]:
        with self._db() as db:
            return {r["state"]: r["n"] for r in db.execute("SELECT state, count(*) AS n FROM outbox GROUP BY state")}
