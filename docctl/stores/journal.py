"""Hash-chained journals (issue 30): each row of an append-only journal — read confirmations, the
account events — carries its number in the journal, the hash of the row before it and its own.

A row's hash covers the previous row's hash and the row's own fields, so deleting, altering or
reordering any row breaks the chain at that row; deleting the newest rows shows against the
heads anchored in git (:mod:`docctl.workflow.anchors`). Rows written before the chain began (an
instance from before issue 30) have no hash: they are reported as such, once, never as tampering.

Appends are serialized so two writers never chain to the same row: SQLite's ``BEGIN IMMEDIATE``
(see :class:`~docctl.stores.database.SqliteDatabase`), PostgreSQL's transaction-scoped advisory
lock on the journal.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

GENESIS = "0" * 64
CHAIN_COLUMNS = ("seq", "prev_hash", "row_hash")


def chain_columns(dialect: str, table: str) -> str:
    """The migration step that gives ``table`` its chain (the rows already there stay unchained)."""
    integer = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return (
        f"ALTER TABLE {table} ADD COLUMN seq {integer};\n"
        f"ALTER TABLE {table} ADD COLUMN prev_hash TEXT;\n"
        f"ALTER TABLE {table} ADD COLUMN row_hash TEXT;\n"
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_by_seq ON {table} (seq);\n"
        # Each anchor counts the rows from before the chain: a partial index keeps that count
        # from scanning the whole journal on every release.
        f"CREATE INDEX IF NOT EXISTS {table}_unchained ON {table} (row_hash) WHERE row_hash IS NULL;\n"
    )


def row_hash(prev: str, fields: Sequence) -> str:
    """SHA-256 of the previous hash and the row's fields, as canonical JSON."""
    payload = json.dumps([prev, *[str(f) for f in fields]], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(conn, dialect: str, table: str, columns: Sequence[str], values: Sequence) -> tuple[int, str]:
    """Insert one row at the end of ``table``'s chain, inside the caller's transaction; returns
    (its number, its hash). ``columns``/``values``: the row's own fields, all of them hashed."""
    if dialect != "sqlite":  # SQLite's BEGIN IMMEDIATE already holds the only write lock
        conn.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(table.encode()),))
    last = conn.execute(
        f"SELECT seq, row_hash FROM {table} WHERE row_hash IS NOT NULL ORDER BY seq DESC LIMIT 1"  # noqa: S608 - table names are ours
    ).fetchone()
    seq, prev = (int(last[0]) + 1, last[1]) if last else (1, GENESIS)
    digest = row_hash(prev, values)
    names = ", ".join([*columns, *CHAIN_COLUMNS])
    marks = ", ".join("?" * (len(columns) + 3))
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", (*values, seq, prev, digest))  # noqa: S608 - names are ours
    return seq, digest


@dataclass(frozen=True)
class ChainRow:
    seq: int | None
    prev_hash: str | None
    row_hash: str | None
    fields: tuple


def read(conn, table: str, columns: Sequence[str], order: str) -> list[ChainRow]:
    """Every row of ``table``: unchained rows first (in ``order``), then the chain by number."""
    names = ", ".join([*CHAIN_COLUMNS, *columns])
    rows = conn.execute(f"SELECT {names} FROM {table} ORDER BY seq IS NOT NULL, seq, {order}")  # noqa: S608 - ours
    return [ChainRow(r[0], r[1], r[2], tuple(r[3:])) for r in rows]


def head(conn, table: str) -> tuple[int, str, int]:
    """(number, hash) of the newest chained row — (0, GENESIS) for an empty chain — and how many
    rows came before the chain began."""
    last = conn.execute(
        f"SELECT seq, row_hash FROM {table} WHERE row_hash IS NOT NULL ORDER BY seq DESC LIMIT 1"  # noqa: S608 - ours
    ).fetchone()
    before = conn.execute(f"SELECT count(*) FROM {table} WHERE row_hash IS NULL").fetchone()[0]  # noqa: S608 - ours
    return (int(last[0]), last[1], int(before)) if last else (0, GENESIS, int(before))
