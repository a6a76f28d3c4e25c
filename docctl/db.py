"""SQLite connections for the instance's small databases (accounts, confirmations, catalog).

One connection per operation (safe across threads and processes), WAL journaling, a generous
busy timeout, and the schema applied once per process and database file rather than on every
connection (it was a measurable share of each request).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

_ready: set[tuple] = set()


@contextlib.contextmanager
def connect(path: Path, schema: str) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        # Keyed by schema too: one file may hold the tables of several owners (catalog, changes).
        key = (os.getpid(), str(path), _inode(path), hash(schema))
        if key not in _ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(schema)
            _ready.add((os.getpid(), str(path), _inode(path), hash(schema)))
        conn.row_factory = sqlite3.Row
        yield conn
    finally:
        conn.close()


def _inode(path: Path) -> tuple[int, int]:
    """Identity of the file itself: a deleted and recreated database may reuse the inode number."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_ino, stat.st_ctime_ns)
