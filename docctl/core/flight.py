"""One builder per key: the threads asking at once for the same missing thing (a register, a
query part's scores) wait for the first one's answer instead of each building it beside it —
eight at once after a release cost the GIL's time and left a worker's memory 250 MB larger."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class OneBuilder:
    """``with builder.turn(key):`` look again whether it is there, and build it if not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    @contextmanager
    def turn(self, key: Hashable) -> Iterator[None]:
        with self._lock:
            each = self._building.setdefault(key, threading.Lock())
        try:
            with each:
                yield
        finally:
            with self._lock:
                self._building.pop(key, None)

    def __len__(self) -> int:
        """Keys being built now."""
        return len(self._building)
