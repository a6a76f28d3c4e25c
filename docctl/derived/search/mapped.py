"""Whoosh reads its mmapped segment files in place (issue 33).

Whoosh 2.7.4 (pinned) opens each part of a segment's compound file as a ``BufferFile`` over a
``memoryview`` of the mapping, and that class wraps it in ``io.BytesIO`` — which copies the view.
Every searcher thus held a private copy of every segment it opened: at 20,000 × 10 each thread
of a server that searched all revisions carried 650 MB of the all-revisions index, and a server
worker grew to 1.0-1.3 GB of its own memory. Reading the file through a small reader over the
view instead leaves the bytes in the page cache, shared by every thread and process.

Reading a segment through plain file handles (``supports_mmap=False``) saves the memory too but
keeps a file open per searcher and thread; the mapping is Whoosh's own design, kept.

Each searcher also mapped each segment file anew: a server worker's eight threads held eight
mappings of the same 49 MB file, and the kernel counts a page once per mapping in the resident
set (RSS 700 MB a worker at 20,000 × 10 for 100 MB of index). A segment file never changes once
written, so one mapping per file (device, inode, size, modification time) is shared by every
searcher of the process, counted, and closed with its last user.
"""

from __future__ import annotations

import io
import mmap
import os
import threading

from whoosh.filedb import compound, structfile

_mappings: dict[tuple, list] = {}  # (device, inode, size, mtime) → [mmap, users]
_mappings_lock = threading.Lock()


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


def _shared_mapping(fileno: int) -> tuple[mmap.mmap, tuple]:
    status = os.fstat(fileno)
    key = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    with _mappings_lock:
        entry = _mappings.get(key)
        if entry is None:
            entry = _mappings[key] = [mmap.mmap(fileno, 0, access=mmap.ACCESS_READ), 0]
        entry[1] += 1
        return entry[0], key


def _compound_init(self, dbfile, use_mmap=True, basepos=0) -> None:
    """Whoosh's ``CompoundStorage.__init__`` (2.7.4), the mapping taken from :data:`_mappings`."""
    self._file = dbfile
    self.is_closed = False
    dbfile.seek(basepos)
    self._diroffset = self._file.read_long()
    self._dirlength = self._file.read_int()
    self._file.seek(self._diroffset)
    self._dir = self._file.read_pickle()
    self._options = self._file.read_pickle()
    self._locks = {}
    self._source = None
    self._mapping = None
    if use_mmap and hasattr(self._file, "fileno"):
        self._source, self._mapping = _shared_mapping(self._file.fileno())
        self._file.close()
        self._file = None


def _compound_close(self) -> None:
    if self.is_closed:
        raise Exception("Already closed")  # noqa: TRY002 - Whoosh's own behaviour
    self.is_closed = True
    key = getattr(self, "_mapping", None)
    if key is not None:
        with _mappings_lock:
            entry = _mappings.get(key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del _mappings[key]
                    try:
                        entry[0].close()
                    except BufferError:  # a view still reads it: unmapped when that goes
                        pass
        self._source = None
    if self._file:
        self._file.close()


def read_mapped_segments_in_place() -> None:
    """Install the reader and the shared mappings (idempotent)."""
    structfile.BufferFile.__init__ = _init
    compound.CompoundStorage.__init__ = _compound_init
    compound.CompoundStorage.close = _compound_close
