"""An exclusive lock across threads and processes: ``flock`` on a lock file, with a timeout.

Used by the git store (one writer at a time) and the search index (exactly one Whoosh writer).
The lock dies with its process, so a crashed writer never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import Conflict


@contextlib.contextmanager
def exclusive(path: Path, *, timeout: float, busy: str) -> Iterator[None]:
    """Hold ``path`` locked; after ``timeout`` seconds of waiting, raise Conflict(``busy``)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Conflict(busy) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
