"""A database copied whole while it is in use (issue 31: ``docctl backup`` and ``restore``).

SQLite files are copied through SQLite's online backup API (a consistent copy while other
connections write: a plain file copy of a WAL database can miss what is still in the WAL), and
a PostgreSQL database by PostgreSQL's own tools, ``pg_dump --format=custom`` and ``pg_restore``
(the server's format, restorable with the server's tools without docctl).
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..core.errors import Conflict, DocctlError
from .database import Database, PostgresDatabase, SqliteDatabase


def copy_sqlite(database: SqliteDatabase, out: Path) -> None:
    """``database`` into the new file ``out``, consistent while others write."""
    source = sqlite3.connect(database.path, timeout=30)
    target = sqlite3.connect(out)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()


def pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, or Debian's newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise DocctlError(f"{name} is not installed: PostgreSQL's client tools are needed (Debian: postgresql-client)")
    return versions[-1]


def dump_postgres(database: PostgresDatabase, out: Path) -> None:
    """``pg_dump --format=custom`` of the whole database into ``out``."""
    url, env = _without_password(database.url)
    _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", f"--file={out}", url], "pg_dump", env)


def restore_postgres(dump: Path, database: PostgresDatabase) -> None:
    """``pg_restore`` of ``dump`` into ``database``, which must hold no tables yet: a restore
    never mixes with records that are already there."""
    if tables(database):
        raise Conflict("the database %(db)s already has tables: restore into an empty database", db=database.describe())
    url, env = _without_password(database.url)
    command = [pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction"]
    _run([*command, f"--dbname={url}", str(dump)], "pg_restore", env)


def tables(database: Database) -> list[str]:
    with database.connection() as conn:
        if database.dialect == "sqlite":
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        else:
            rows = conn.execute(
                "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
    return sorted(row["name"] for row in rows)


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """The URL for the command line and the password in the environment (``PGPASSWORD``), so
    that it never shows in the process list."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is None:
        return url, env
    env["PGPASSWORD"] = parts.password
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), env


def _run(cmd: list[str], name: str, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise DocctlError(f"{name} failed: {done.stderr.strip()[-500:]}")
