"""Whoosh reads its mmapped segment files in place (issue 33).

Whoosh 2.7.4 (pinned) opens each part of a segment's compound file as a ``BufferFile`` over a
``memoryview`` of the mapping, and that class wraps it in ``io.BytesIO`` — which copies the view.
Every searcher thus held a private copy of every segment it opened: at 20,000 × 10 each thread
of a server that searched all revisions carried 650 MB of the all-revisions index, and a server
worker grew to 1.0-1.3 GB of its own memory. Reading the file through a small reader over the
view instead leaves the bytes in the page cache, shared by every thread and process.

Reading a segment through plain file handles (``supports_mmap=False``) saves the memory too but
keeps a file open per searcher and thread; the mapping is Whoosh's own design, kept.
"""

from __future__ import annotations

import io

from whoosh.filedb import structfile


class _ViewReader(io.RawIOBase):
    """A read-only file over a memoryview, without copying it."""

    def __init__(self, view) -> None:
        super().__init__()
        self._view = memoryview(view).cast("B")
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = max(base + offset, 0)
        return self._at

    def tell(self) -> int:
        return self._at

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(self._at + size, len(self._view))
        data = self._view[self._at : end].tobytes()
        self._at = max(end, self._at)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int = -1) -> bytes:
        limit = len(self._view) if size is None or size < 0 else min(self._at + size, len(self._view))
        end = self._at
        while end < limit:  # a page at a time: never a copy of the rest of the file
            found = self._view[end : min(end + 4096, limit)].tobytes().find(b"\n")
            if found >= 0:
                end += found + 1
                break
            end = min(end + 4096, limit)
        return self.read(end - self._at)


def _init(self, buf, name=None, onclose=None) -> None:
    self._buf = buf
    self._name = name
    self.file = _ViewReader(buf)
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


def read_mapped_segments_in_place() -> None:
    """Install the reader (idempotent)."""
    structfile.BufferFile.__init__ = _init
