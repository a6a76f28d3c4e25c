"""Server-side login sessions: every login is a row, so ending one is real (issue 15).

The browser holds only a random session id inside Flask's signed cookie; this table holds its
SHA-256 hash, who it belongs to, from which address, when it started and when it was last used.
A session ends — and a copied cookie stops working — when its person logs out (that session),
changes their password or is deactivated, has a role or unit changed by an admin, or has their
password reset (all of that person's sessions); when it has been idle longer than
``SESSION_IDLE_MINUTES``; or when it is older than ``SESSION_LIFETIME_HOURS`` whatever its use.
Ended rows stay (with why), so an admin can see who was logged in from where.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from ..core.clock import utc_now
from .database import Database, Schema, open_database

SCHEMA = Schema(
    "sessions",
    (
        """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, login TEXT NOT NULL, address TEXT NOT NULL,
    created_at TEXT NOT NULL, seen_at TEXT NOT NULL, ended_at TEXT, ended_why TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_login ON sessions (login, ended_at);
""",
    ),
)
TOUCH_EVERY = timedelta(seconds=60)  # last use is written at most once a minute per session


class SessionStore:
    def __init__(
        self,
        database: Database | Path,
        *,
        idle: timedelta,
        lifetime: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.database = open_database(database)
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock

    def _db(self):
        return self.database.session(SCHEMA)

    def start(self, login: str, address: str) -> str:
        """A new session for ``login``; returns the id the cookie carries (never stored)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock().isoformat()
        with self._db() as conn:
            conn.execute(
                "INSERT INTO sessions (id, login, address, created_at, seen_at) VALUES (?,?,?,?,?)",
                (_hash(sid), login, address[:64], now, now),
            )
        return sid

    def check(self, sid: str | None, login: str) -> bool:
        """Whether ``sid`` is a live session of ``login``; ends it when it has expired."""
        if not sid:
            return False
        key, now = _hash(str(sid)), self.clock()
        with self._db() as conn:
            row = conn.execute(
                "SELECT login, created_at, seen_at FROM sessions WHERE id=? AND ended_at IS NULL", (key,)
            ).fetchone()
            if row is None or row["login"] != login:
                return False
            seen = datetime.fromisoformat(row["seen_at"])
            why = None
            if now - datetime.fromisoformat(row["created_at"]) > self.lifetime:
                why = "lifetime"
            elif now - seen > self.idle:
                why = "idle"
            if why:
                conn.execute("UPDATE sessions SET ended_at=?, ended_why=? WHERE id=?", (now.isoformat(), why, key))
                return False
            if now - seen > TOUCH_EVERY:
                conn.execute("UPDATE sessions SET seen_at=? WHERE id=?", (now.isoformat(), key))
        return True

    def end(self, sid: str | None, why: str = "logout") -> None:
        if sid:
            with self._db() as conn:
                conn.execute(
                    "UPDATE sessions SET ended_at=?, ended_why=? WHERE id=? AND ended_at IS NULL",
                    (self.clock().isoformat(), why, _hash(str(sid))),
                )

    def end_all(self, login: str, why: str) -> int:
        """End every live session of ``login`` (password change, deactivation, role change)."""
        with self._db() as conn:
            return conn.execute(
                "UPDATE sessions SET ended_at=?, ended_why=? WHERE login=? AND ended_at IS NULL",
                (self.clock().isoformat(), why, login),
            ).rowcount

    def live(self, login: str) -> list[dict]:
        """``login``'s sessions that have not ended (expired ones may still be listed until used)."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT address, created_at, seen_at FROM sessions WHERE login=? AND ended_at IS NULL"
                " ORDER BY created_at",
                (login,),
            ).fetchall()
        return [dict(r) for r in rows]


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
