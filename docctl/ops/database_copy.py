"""``docctl db copy``: an embedded instance's SQLite records moved into PostgreSQL (issue 14).

What moves is what exists nowhere else — people, tokens, sessions, throttles, the account
journal, read confirmations, the outbox — row for row, numbers kept (a token's id, an outbox
message's id), in one transaction: the target ends with all of it or none of it. The target must
be empty of these records, so a copy never merges two instances' people by accident. The SQLite
files are left as they were (a fallback until the operator removes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import Conflict, Invalid
from ..stores.database import Database, Schema, SqliteDatabase

# Parents before children (tokens name users).
_FIRST = ("users",)


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table → rows copied

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_into(sources: dict[str, Path], target: Database, schemas: Iterable[tuple[str, Schema]]) -> CopyReport:
    """Copy the SQLite files ``sources`` (store → file) into ``target``, whose tables are brought to
    each schema's version first."""
    if target.dialect == "sqlite":
        raise Invalid("db copy moves SQLite records into PostgreSQL: set DATABASE_URL to the target database")
    schemas = list(schemas)
    for _, schema in schemas:
        target.upgrade(schema)
    report = CopyReport()
    with target.session(schemas[0][1]) as conn, conn.transaction():
        target_tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }
        plan: list[tuple[str, list[str], list]] = []
        for store in dict.fromkeys(store for store, _ in schemas):
            path = sources.get(store)
            if path is None or not path.exists():
                continue
            plan += _read(SqliteDatabase(path), target_tables)
        for table, _, _ in plan:
            if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():  # noqa: S608 - names from the schema
                raise Conflict(
                    "the database already holds records (table %(table)s): db copy fills an empty database",
                    table=table,
                )
        for table, columns, rows in plan:
            if rows:
                names = ", ".join(columns)
                marks = ", ".join("?" * len(columns))
                conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608 - names from the schema
            sequence = (
                conn.execute("SELECT pg_get_serial_sequence(?, 'id')", (table,)).fetchone()[0]
                if "id" in columns
                else None
            )
            if sequence:  # numbering continues after the copied rows
                conn.execute(
                    f"SELECT setval(?, COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)",  # noqa: S608 - names from the schema
                    (sequence,),
                )
            report.rows[table] = len(rows)
    return report


def _read(source: SqliteDatabase, wanted: set[str]) -> list[tuple[str, list[str], list]]:
    """Every table of ``source`` that the target has too, with its rows in insertion order."""
    out = []
    with source.connection() as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'docctl_schema'")
            if r[0] in wanted
        ]
        tables.sort(key=lambda name: (name not in _FIRST, name))
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            rows = [tuple(r) for r in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")]  # noqa: S608 - names from the file's own catalog
            out.append((table, columns, rows))
    source.close()
    return out
