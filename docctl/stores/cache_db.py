"""SQLite connections for each node's derived caches (catalog, change index, audit trail).

The records that exist nowhere else (people, confirmations, outbox) go through ``database.py``,
which can put them in PostgreSQL; these files are always local, rebuilt from git.

One connection per thread and database file, reused across requests (opening one cost ~0.3 ms and
a page opened 5–10: issue 12), in autocommit mode so every statement sees what other processes
committed; WAL journaling, a generous busy timeout, and the schema applied once per connection
owner rather than on every use.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

_local = threading.local()


@contextlib.contextmanager
def connect(path: Path, schema: str, *, derived: bool = False) -> Iterator[sqlite3.Connection]:
    """A reused connection to ``path``. ``derived``: the file only caches what git holds (catalog,
    change index, audit trail), so commits need not wait for the disk (``synchronous=NORMAL`` in
    WAL mode: never corrupt, may lose the last commits on power loss — rebuilt from git then);
    accounts and confirmations keep full durability."""
    # Keyed by the file's identity (a deleted and recreated database is another file) and by
    # schema: one file may hold the tables of several owners (catalog, changes).
    key = (os.getpid(), str(path), file_identity(path), hash(schema))
    pool = getattr(_local, "connections", None)
    if pool is None:
        pool = _local.connections = {}
    conn = pool.get(key)
    if conn is None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA journal_mode=WAL")
        if derived:
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(schema)
        conn.row_factory = sqlite3.Row
        for stale in [k for k in pool if k[1] == key[1] and k[3] == key[3]]:
            pool.pop(stale).close()
        pool[(os.getpid(), str(path), file_identity(path), hash(schema))] = conn  # the file exists now
    try:
        yield conn
    finally:
        if conn.in_transaction:  # never leave a transaction open on a reused connection
            conn.rollback()


def file_identity(path: Path) -> tuple[int, int]:
    """Identity of the file itself (not its change time, which every write moves)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_dev, stat.st_ino)
