"""Git objects written straight into a pack, for the history generator (issue 33).

At 20,000 documents ``git fast-import`` spent most of its time on the ``documents/`` tree: for
every file it changes it scans the tree's 20,000 entries for the name, sorts them and prints each
one back with ``printf`` (perf: memcmp, vfprintf, msort on top), twice per release (the change
branch and main). The generator now writes each ``documents/`` tree here instead — one entry
replaced in the serialized bytes, stored as a delta of a few bytes against the previous tree
(a whole tree every :data:`DEPTH`, as ``git gc`` bounds chains) — and hands fast-import the tree's
id (``M 040000 <id> documents``), which it links without reading.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import tempfile
import zlib
from pathlib import Path

OBJ_COMMIT, OBJ_TREE, OBJ_BLOB, OBJ_REF_DELTA = 1, 2, 3, 7
DEPTH = 50


def object_id(kind: str, data: bytes) -> bytes:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data).digest()  # noqa: S324 - git's id


class PackWriter:
    """A pack file being written (objects, then ``git index-pack`` on :meth:`close`)."""

    def __init__(self, git_dir: Path | str) -> None:
        self.git_dir = Path(git_dir)
        self.file = tempfile.NamedTemporaryFile(dir=self.git_dir / "objects" / "pack", prefix="tmp_gen_", delete=False)
        self.count = 0
        self.index: list[tuple[bytes, int, int]] = []  # (object id, offset, CRC-32 of the record)
        self.offset = 12
        self.file.write(b"PACK" + struct.pack(">II", 2, 0))  # the count is patched in at the end

    def whole(self, kind: int, data: bytes, object_id: bytes) -> None:
        self._record(kind, len(data), b"", data, object_id)

    def delta(self, base: bytes, delta: bytes, object_id: bytes) -> None:
        self._record(OBJ_REF_DELTA, len(delta), base, delta, object_id)

    def _record(self, kind: int, size: int, prefix: bytes, data: bytes, object_id: bytes) -> None:
        first, size = (kind << 4) | (size & 0x0F), size >> 4
        head = bytearray()
        while size:
            head.append(first | 0x80)
            first, size = size & 0x7F, size >> 7
        head.append(first)
        record = bytes(head) + prefix + zlib.compress(data, 1)
        self.file.write(record)
        self.index.append((object_id, self.offset, zlib.crc32(record)))
        self.offset += len(record)
        self.count += 1

    def close(self) -> None:
        """Count and checksum in place, and the pack's index written here: every id is known
        already, and ``git index-pack`` would rebuild and hash each 800 KB tree again (minutes
        at 200,000 trees). ``tests/test_history_generator.py`` reads the result back with git."""
        self.file.seek(8)
        self.file.write(struct.pack(">I", self.count))
        self.file.seek(0)
        digest = hashlib.sha1()  # noqa: S324 - git's pack checksum
        while chunk := self.file.read(1 << 20):
            digest.update(chunk)
        checksum = digest.digest()
        self.file.write(checksum)
        self.file.close()
        name = self.git_dir / "objects" / "pack" / f"pack-{checksum.hex()}"
        _write_index(name.with_suffix(".idx"), sorted(self.index), checksum)
        Path(self.file.name).chmod(0o444)  # as git leaves its packs
        Path(self.file.name).rename(name.with_suffix(".pack"))


class FlatTree:
    """One flat tree of files (``documents/``) kept serialized, one entry set at a time."""

    def __init__(self, pack: PackWriter) -> None:
        self.pack = pack
        self.data = b""
        self.names: list[bytes] = []  # sorted, as git orders a tree of files
        self.base: bytes | None = None  # the previous tree's id
        self.depth = 0

    def set(self, name: str, blob_id: bytes) -> str:
        """Point ``name`` at ``blob_id``; returns the new tree's id (hex), written to the pack."""
        key = name.encode()
        entry_name = b" " + key + b"\0"
        at = self.data.find(entry_name)  # names are unique and never a suffix of another here
        if at >= 0:
            start = at + len(entry_name)
            new = self.data[:start] + blob_id + self.data[start + 20 :]
            ops = _copy(0, start) + _insert(blob_id) + _copy(start + 20, len(self.data) - start - 20)
        else:
            index = bisect.bisect(self.names, key)
            self.names.insert(index, key)
            if index + 1 < len(self.names):
                start = self.data.find(b" " + self.names[index + 1] + b"\0") - len(b"100644")
            else:
                start = len(self.data)
            entry = b"100644" + entry_name + blob_id
            new = self.data[:start] + entry + self.data[start:]
            ops = _copy(0, start) + _insert(entry) + _copy(start, len(self.data) - start)
        tree_id = object_id("tree", new)
        if self.base is None or self.depth >= DEPTH:
            self.pack.whole(OBJ_TREE, new, tree_id)
            self.depth = 0
        else:
            self.pack.delta(self.base, _varint(len(self.data)) + _varint(len(new)) + ops, tree_id)
            self.depth += 1
        self.data, self.base = new, tree_id
        return tree_id.hex()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _copy(offset: int, size: int) -> bytes:
    """A delta's copy instruction (several when ``size`` exceeds what one can say)."""
    out = b""
    while size > 0:
        step = min(size, 0xFFFFFF)
        op, args = 0x80, bytearray()
        for i in range(4):
            byte = (offset >> (8 * i)) & 0xFF
            if byte:
                op |= 1 << i
                args.append(byte)
        for i in range(3):
            byte = (step >> (8 * i)) & 0xFF
            if byte:
                op |= 1 << (4 + i)
                args.append(byte)
        out += bytes([op]) + bytes(args)
        offset, size = offset + step, size - step
    return out


def _insert(data: bytes) -> bytes:
    return b"".join(bytes([len(data[i : i + 127])]) + data[i : i + 127] for i in range(0, len(data), 127))


def _write_index(path: Path, entries: list[tuple[bytes, int, int]], pack_checksum: bytes) -> None:
    """A version 2 pack index (gitformat-pack(5)): fan-out, ids, CRC-32s, offsets."""
    fanout = [0] * 256
    for object_id, _, _ in entries:
        fanout[object_id[0]] += 1
    running, table = 0, []
    for count in fanout:
        running += count
        table.append(running)
    large: list[int] = []
    offsets = []
    for _, offset, _ in entries:
        if offset < 0x80000000:
            offsets.append(offset)
        else:
            offsets.append(0x80000000 | len(large))
            large.append(offset)
    body = b"".join(
        (
            b"\377tOc" + struct.pack(">I", 2),
            struct.pack(">256I", *table),
            b"".join(e[0] for e in entries),
            struct.pack(f">{len(entries)}I", *(e[2] & 0xFFFFFFFF for e in entries)),
            struct.pack(f">{len(entries)}I", *offsets),
            struct.pack(f">{len(large)}Q", *large),
            pack_checksum,
        )
    )
    path.write_bytes(body + hashlib.sha1(body).digest())  # noqa: S324 - git's index checksum
